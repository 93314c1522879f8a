using System.CommandLine;
using System.Globalization;
using Coordination.Client;
using Medallion.Threading;

namespace Coordination.Cli.Commands;

/// <summary>
/// <c>coord lock NAME [--ttl] [--timeout] [--permits N] -- CMD ARGS…</c> (etcdctl lock, consul lock [-n]): runs the
/// command while holding the lock (or one of N permits of a semaphore), with COORD_LOCK_NAME and COORD_FENCING_TOKEN
/// (and COORD_PERMITS) in its environment, and returns its exit status. The lock is released when the command exits
/// or coord is interrupted; if the lock is lost first (revoked, or the session's lease ran out), the command is
/// stopped and coord exits with <see cref="ExitCodes.Lost"/>.
/// </summary>
internal static class LockCommand
{
    private static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(10);

    public static Command Create(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The lock's name (with --permits, the semaphore's)." };
        var command = new Argument<string[]>("command") { Description = "The command to run while holding the lock (after --).", Arity = ArgumentArity.OneOrMore };
        var ttl = new Option<TimeSpan?>("--ttl") { Description = "The session's lease: how soon the lock frees if coord stops answering. Default 15s.", CustomParser = Durations.Parse };
        var timeout = new Option<TimeSpan?>("--timeout") { Description = "Give up (exit 124) if the lock is not acquired within this; 0 takes it only if free now. Default: wait.", CustomParser = Durations.Parse };
        var permits = new Option<int?>("--permits", "-n") { Description = $"Hold one of this many permits of a semaphore NAME instead of the lock (consul lock -n): up to that many commands run at once (1 to {SemaphoreLimits.MaxPermits}; every user of NAME must give the same count, else exit 1)." };
        var grace = new Option<TimeSpan?>("--grace") { Description = "How long the command gets after SIGTERM before SIGKILL when it must stop; at most a third of the TTL. Default: a third of the TTL, at most 10s.", CustomParser = Durations.Parse };

        var lockCommand = new Command("lock", "Run a command while holding a lock (or a semaphore's permit); its exit status is coord's.") { name, command, ttl, timeout, grace, permits };
        lockCommand.Validators.Add(r =>
        {
            // Read from the token, so that one that is not a number gets only its own parse error.
            if (r.GetResult(permits) is { Tokens: [var count] } && int.TryParse(count.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is < 1 or > SemaphoreLimits.MaxPermits)
            {
                r.AddError($"--permits must be 1 to {SemaphoreLimits.MaxPermits}.");
            }
        });
        lockCommand.Validators.Add(r =>
        {
            if (r.GetResult(ttl) is { Tokens: [var typed] } && !Durations.TryParse(typed.Value, out _))
            {
                return; // the TTL's own error says what is wrong
            }

            var most = MostGrace(r.GetValue(ttl));
            if (r.GetValue(grace) is { } given && (given <= TimeSpan.Zero || given > most))
            {
                r.AddError($"--grace must be more than 0 and at most a third of the TTL ({most.TotalSeconds:0.###}s), so that one late keepalive does not stop the command.");
            }
        });
        lockCommand.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, result.GetValue(ttl), async (cluster, output) =>
        {
            var lockName = result.GetValue(name)!;
            var stopGrace = result.GetValue(grace) ?? Durations.Shorter(DefaultGrace, MostGrace(result.GetValue(ttl)));
            await using var session = await cluster.Coordination.OpenSessionAsync(result.GetValue(ttl), cancellationToken);
            var wait = result.GetValue(timeout);
            var count = result.GetValue(permits);
            var what = count is { } n ? $"A permit of semaphore '{lockName}' ({n} permits)" : $"Lock '{lockName}'";
            var (grant, handle, token) = await output.WaitingAsync($"Waiting for {char.ToLowerInvariant(what[0])}{what[1..]}…", () => AcquireAsync(session, lockName, count, wait, cancellationToken))
                ?? throw new CliException("timeout", ExitCodes.Timeout, wait == TimeSpan.Zero ? $"{what} was not free." : $"{what} was not acquired within {wait!.Value.TotalSeconds:0.###} s.");

            await using (handle)
            {
                var environment = new Dictionary<string, string>
                {
                    ["COORD_LOCK_NAME"] = lockName,
                    ["COORD_FENCING_TOKEN"] = token.ToString(CultureInfo.InvariantCulture),
                };
                if (count is { } total)
                {
                    environment["COORD_PERMITS"] = total.ToString(CultureInfo.InvariantCulture);
                }

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(handle.HandleLostToken, cancellationToken);
                var (exitCode, stopped) = await SupervisedChild.RunAsync(result.GetValue(command)!, environment, Durations.Shorter(stopGrace, session.Ttl / 3), () => session.Remaining, stop.Token);
                if (stopped && !cancellationToken.IsCancellationRequested)
                {
                    // Lost, or about to be: the lease had no more than the grace period left (its keepalives went unanswered).
                    var why = grant.RevokedReason is { } reason ? $"was lost (revoked: {reason})"
                        : session.LostReason is { } lost ? $"was lost ({lost})"
                        : $"was about to be lost (its session's keepalives went unanswered with {session.Remaining.TotalSeconds:0.#} s of its lease left)";
                    output.Fail(new CliException("lost", ExitCodes.Lost, $"{what} {why}; the command was stopped."));
                    return ExitCodes.Lost;
                }

                return exitCode;
            }
        }, cancellationToken));
        return lockCommand;
    }

    /// <summary>The lock, or with <paramref name="permits"/> a permit of the semaphore; null when not acquired within <paramref name="wait"/>.</summary>
    private static async Task<(CoordinationGrant Grant, IDistributedSynchronizationHandle Handle, long Token)?> AcquireAsync(CoordinationSession session, string name, int? permits, TimeSpan? wait, CancellationToken cancellationToken)
    {
        if (permits is { } count)
        {
            var semaphore = session.CreateSemaphore(name, count);
            var permit = wait is { } limit ? await semaphore.TryAcquireAsync(limit, cancellationToken) : await semaphore.AcquireAsync(null, cancellationToken);
            return permit is null ? null : (permit, permit, permit.FencingToken);
        }

        var exclusive = session.CreateLock(name);
        var handle = wait is { } most ? await exclusive.TryAcquireAsync(most, cancellationToken) : await exclusive.AcquireAsync(null, cancellationToken);
        return handle is null ? null : (handle, handle, handle.FencingToken);
    }

    /// <summary>
    /// The longest time a command may get between SIGTERM and SIGKILL: the SIGTERM comes at the latest when the lease has
    /// that much left, so more than a third of the TTL would stop the command when a single keepalive is late.
    /// </summary>
    private static TimeSpan MostGrace(TimeSpan? ttl) => (ttl ?? new CoordinationClientOptions().SessionTtl) / 3;

}
