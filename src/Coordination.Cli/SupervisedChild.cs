using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Coordination.Cli;

/// <summary>
/// The command <c>coord lock</c> runs: started with the lock's name and fencing token in its environment, and
/// stopped (SIGTERM, then SIGKILL after a grace period, as consul lock does) when the lock is lost or coord is
/// interrupted, so it never keeps working on what the lock protects after the lock is gone.
/// </summary>
internal static class SupervisedChild
{
    private const int SigTerm = 15;

    /// <returns>The command's exit status, and whether coord had to stop it.</returns>
    public static async Task<(int ExitCode, bool Stopped)> RunAsync(string[] command, IReadOnlyDictionary<string, string> environment, TimeSpan grace, CancellationToken stop)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

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
            try
            {
                await process.WaitForExitAsync(stop);
                return (process.ExitCode, false);
            }
            catch (OperationCanceledException)
            {
                // Asked to stop (lock lost, or coord interrupted): the command gets SIGTERM and the grace period to finish.
            }

            _ = Kill(process.Id, SigTerm);
            try
            {
                await process.WaitForExitAsync().WaitAsync(grace, TimeProvider.System);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            return (process.ExitCode, true);
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
