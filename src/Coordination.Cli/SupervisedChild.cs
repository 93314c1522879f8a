using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Coordination.Cli;

/// <summary>
/// The command <c>coord lock</c> runs: started with the lock's name and fencing token in its environment, and
/// stopped (SIGTERM, then SIGKILL of it and every process it started) when the lock is lost or coord is interrupted,
/// so it never keeps working on what the lock protects after someone else may hold it. The kill comes when the grace
/// period ends or the session's lease runs out on the client's clock, whichever is first: that is before the cluster
/// can grant the lock to anyone else. The SIGTERM also comes when the lease has no more than the grace period left
/// (its keepalives going unanswered), so the command has its grace period then too.
/// </summary>
internal static class SupervisedChild
{
    private const int SigTerm = 15;

    /// <summary>The longest sleep between two looks at the lease while the command runs.</summary>
    private static readonly TimeSpan LeaseLook = TimeSpan.FromSeconds(1);

    /// <param name="lease">What is left of the session's lease on the client's clock (zero once it has run out).</param>
    /// <param name="stop">Asks the command to stop (the lock was lost, or coord was interrupted).</param>
    /// <returns>The command's exit status, and whether coord had to stop it.</returns>
    public static async Task<(int ExitCode, bool Stopped)> RunAsync(string[] command, IReadOnlyDictionary<string, string> environment, TimeSpan grace, Func<TimeSpan> lease, CancellationToken stop)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        // The TLS password is coord's own, not the command's to read.
        start.Environment.Remove(ConnectionOptions.TlsPasswordVariable);
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception($"'{command[0]}' did not start");
        }
        catch (Win32Exception ex)
        {
            throw new CliException("command-not-found", ExitCodes.CommandNotFound, $"Cannot run '{command[0]}': {ex.Message}");
        }

        using (process)
        {
            var exited = process.WaitForExitAsync();
            var stopping = Task.Delay(Timeout.InfiniteTimeSpan, stop);
            while (!exited.IsCompleted && !stop.IsCancellationRequested && lease() is var left && left > grace)
            {
                await Task.WhenAny(exited, stopping, Task.Delay(Durations.Shorter(left - grace, LeaseLook)));
            }

            if (exited.IsCompleted)
            {
                return (process.ExitCode, false);
            }

            _ = Kill(process.Id, SigTerm);
            var termed = Stopwatch.GetTimestamp();
            while (!exited.IsCompleted && Durations.Shorter(grace - Stopwatch.GetElapsedTime(termed), lease()) is var wait && wait > TimeSpan.Zero)
            {
                await Task.WhenAny(exited, Task.Delay(Durations.Shorter(wait, LeaseLook)));
            }

            if (!exited.IsCompleted)
            {
                process.Kill(entireProcessTree: true);
                await exited;
            }

            return (process.ExitCode, true);
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
