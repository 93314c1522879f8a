using System.CommandLine;
using System.Globalization;

namespace Coordination.Cli.Commands;

/// <summary>
/// <c>coord lock NAME [--ttl] [--timeout] -- CMD ARGS…</c> (etcdctl lock, consul lock): runs the command while
/// holding the lock, with COORD_LOCK_NAME and COORD_FENCING_TOKEN in its environment, and returns its exit status.
/// The lock is released when the command exits or coord is interrupted; if the lock is lost first (revoked, or the
/// session's lease ran out), the command is stopped and coord exits with <see cref="ExitCodes.Lost"/>.
/// </summary>
internal static class LockCommand
{
    private static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(10);

    public static Command Create(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The lock's name." };
        var command = new Argument<string[]>("command") { Description = "The command to run while holding the lock (after --).", Arity = ArgumentArity.OneOrMore };
        var ttl = new Option<TimeSpan?>("--ttl") { Description = "The session's lease: how soon the lock frees if coord stops answering. Default 15s.", CustomParser = Durations.Parse };
        var timeout = new Option<TimeSpan?>("--timeout") { Description = "Give up (exit 124) if the lock is not acquired within this; 0 takes it only if free now. Default: wait.", CustomParser = Durations.Parse };
        var grace = new Option<TimeSpan?>("--grace") { Description = "How long the command gets after SIGTERM before SIGKILL when it must stop; at most a third of the TTL. Default: a third of the TTL, at most 10s.", CustomParser = Durations.Parse };

        var lockCommand = new Command("lock", "Run a command while holding a lock; its exit status is coord's.") { name, command, ttl, timeout, grace };
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
            var handle = await output.WaitingAsync(
                $"Waiting for lock '{lockName}'…",
                async () => wait is { } limit ? await session.CreateLock(lockName).TryAcquireAsync(limit, cancellationToken) : await session.CreateLock(lockName).AcquireAsync(null, cancellationToken))
                ?? throw new CliException("timeout", ExitCodes.Timeout, $"Lock '{lockName}' was not acquired within {wait!.Value.TotalSeconds:0.###} s.");

            await using (handle)
            {
                var environment = new Dictionary<string, string>
                {
                    ["COORD_LOCK_NAME"] = lockName,
                    ["COORD_FENCING_TOKEN"] = handle.FencingToken.ToString(CultureInfo.InvariantCulture),
                };
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(handle.HandleLostToken, cancellationToken);
                var (exitCode, stopped) = await SupervisedChild.RunAsync(result.GetValue(command)!, environment, Durations.Shorter(stopGrace, session.Ttl / 3), () => session.Remaining, stop.Token);
                if (stopped && !cancellationToken.IsCancellationRequested)
                {
                    // Lost, or about to be: the lease had no more than the grace period left (its keepalives went unanswered).
                    var why = handle.RevokedReason is { } reason ? $"was lost (revoked: {reason})"
                        : session.LostReason is { } lost ? $"was lost ({lost})"
                        : $"was about to be lost (its session's keepalives went unanswered with {session.Remaining.TotalSeconds:0.#} s of its lease left)";
                    output.Fail(new CliException("lost", ExitCodes.Lost, $"Lock '{lockName}' {why}; the command was stopped."));
                    return ExitCodes.Lost;
                }

                return exitCode;
            }
        }, cancellationToken));
        return lockCommand;
    }

    /// <summary>
    /// The longest time a command may get between SIGTERM and SIGKILL: the SIGTERM comes at the latest when the lease has
    /// that much left, so more than a third of the TTL would stop the command when a single keepalive is late.
    /// </summary>
    private static TimeSpan MostGrace(TimeSpan? ttl) => (ttl ?? new Client.CoordinationClientOptions().SessionTtl) / 3;

}
