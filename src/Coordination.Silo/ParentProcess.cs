using System.Diagnostics;

namespace Coordination.Silo;

/// <summary>
/// The process that started this one (<see cref="Configuration.SiloHostOptions.ParentProcessId"/>): a silo whose launcher is gone, or a
/// launcher whose test or benchmark process is gone, stops gracefully instead of running on as an orphan.
/// </summary>
internal static class ParentProcess
{
    /// <summary>
    /// True once process <paramref name="parent"/> has exited (looked at once a second, the first time after a second); false
    /// when cancelled first. Its start time is noted at once, so a new process that reuses the number later is not taken for it.
    /// </summary>
    public static async Task<bool> ExitedAsync(int parent, TimeProvider time, CancellationToken cancellationToken)
    {
        var started = StartTime(parent);
        do
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
        while (IsRunning(parent, started));
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
            // Taken here: the source's owner may be done with it, and dispose it, before the watch starts.
            var token = stop.Token;
            _ = Task.Run(async () =>
            {
                if (await ExitedAsync(pid, time, token))
                {
                    exited();
                    try
                    {
                        await stop.CancelAsync();
                    }
                    catch (ObjectDisposedException)
                    {
                        // Its owner has finished already.
                    }
                }
            }, CancellationToken.None);
        }

        return stop;
    }

    /// <summary>Whether <paramref name="pid"/> runs and, when <paramref name="started"/> is known, is still the process that started then.</summary>
    internal static bool IsRunning(int pid, long? started)
    {
        try
        {
            // A parent that died and is not reaped yet (a zombie) has exited too; Process.HasExited says it runs.
            var fields = Fields(File.ReadAllText($"/proc/{pid}/stat"));
            if (fields[0] is "Z" or "X")
            {
                return false;
            }

            if (started is { } then && StartTime(fields) is { } now && now != then)
            {
                // The parent is gone and another process has its number now.
                return false;
            }
        }
        catch (IOException)
        {
            // No /proc (not Linux), or the process is gone: Process decides.
        }

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

    /// <summary>When <paramref name="pid"/> started, in clock ticks since boot (<c>/proc/PID/stat</c>, field 22), or null if unknown.</summary>
    internal static long? StartTime(int pid)
    {
        try
        {
            return StartTime(Fields(File.ReadAllText($"/proc/{pid}/stat")));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The fields of a <c>/proc/PID/stat</c> line after the command name (which may hold spaces and parentheses): [0] is field 3, the state.</summary>
    private static string[] Fields(string stat) => stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

    /// <summary>Field 22, starttime.</summary>
    private static long? StartTime(string[] fields) =>
        fields.Length > 19 && long.TryParse(fields[19], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
}
