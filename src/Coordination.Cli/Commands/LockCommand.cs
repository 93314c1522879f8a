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
    public static Command Create(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The lock's name." };
        var command = new Argument<string[]>("command") { Description = "The command to run while holding the lock (after --).", Arity = ArgumentArity.OneOrMore };
        var ttl = new Option<TimeSpan?>("--ttl") { Description = "The session's lease: how soon the lock frees if coord stops answering. Default 15s.", CustomParser = Durations.Parse };
        var timeout = new Option<TimeSpan?>("--timeout") { Description = "Give up (exit 124) if the lock is not acquired within this; 0 takes it only if free now. Default: wait.", CustomParser = Durations.Parse };
        var grace = new Option<TimeSpan?>("--grace") { Description = "How long the command gets after SIGTERM before SIGKILL when it must stop. Default 10s.", CustomParser = Durations.Parse };

        var lockCommand = new Command("lock", "Run a command while holding a lock; its exit status is coord's.") { name, command, ttl, timeout, grace };
        lockCommand.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, result.GetValue(ttl), async (cluster, output) =>
        {
            var lockName = result.GetValue(name)!;
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
                var (exitCode, stopped) = await SupervisedChild.RunAsync(result.GetValue(command)!, environment, result.GetValue(grace) ?? TimeSpan.FromSeconds(10), stop.Token);
                if (stopped && handle.HandleLostToken.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    var why = handle.RevokedReason is { } reason ? $"revoked: {reason}" : session.LostReason ?? "its session was lost";
                    output.Fail(new CliException("lost", ExitCodes.Lost, $"Lock '{lockName}' was lost ({why}); the command was stopped."));
                    return ExitCodes.Lost;
                }

                return exitCode;
            }
        }, cancellationToken));
        return lockCommand;
    }
}
