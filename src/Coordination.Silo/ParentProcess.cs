using System.Diagnostics;

namespace Coordination.Silo;

/// <summary>
/// The process that started this one (<see cref="Configuration.SiloHostOptions.ParentProcessId"/>): a silo whose launcher is gone, or a
/// launcher whose test or benchmark process is gone, stops gracefully instead of running on as an orphan.
/// </summary>
internal static class ParentProcess
{
    /// <summary>True once process <paramref name="parent"/> has exited (looked at once a second); false when cancelled first.</summary>
    public static async Task<bool> ExitedAsync(int parent, TimeProvider time, CancellationToken cancellationToken)
    {
        while (IsRunning(parent))
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A token source linked to <paramref name="cancellationToken"/> that is also cancelled once <paramref name="parent"/> (when
    /// given) has exited; <paramref name="exited"/> runs first.
    /// </summary>
    public static CancellationTokenSource StopWith(int? parent, TimeProvider time, Action exited, CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (parent is { } pid)
        {
            _ = Task.Run(async () =>
            {
                if (await ExitedAsync(pid, time, stop.Token))
                {
                    exited();
                    await stop.CancelAsync();
                }
            }, CancellationToken.None);
        }

        return stop;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
