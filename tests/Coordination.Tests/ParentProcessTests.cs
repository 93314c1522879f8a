using System.Diagnostics;
using Coordination.Silo;

namespace Coordination.Tests;

/// <summary>How a silo or launcher tells that the process that started it is gone: exited, a zombie, or its number reused.</summary>
public sealed class ParentProcessTests
{
    [Fact]
    public void A_running_process_is_its_parent_only_while_it_is_the_one_that_started_then()
    {
        var id = WithSleepingChild(child =>
        {
            var started = ParentProcess.StartTime(child.Id);
            Assert.NotNull(started);
            Assert.True(ParentProcess.IsRunning(child.Id, started));
            Assert.True(ParentProcess.IsRunning(child.Id, null));

            // Another start time under the same number is what a reused pid looks like: not the parent.
            Assert.False(ParentProcess.IsRunning(child.Id, started + 1));
        });

        Assert.False(ParentProcess.IsRunning(id, null));
        Assert.Null(ParentProcess.StartTime(id));
    }

    [Fact]
    public void The_start_time_is_when_the_process_started() =>
        WithSleepingChild(child =>
        {
            // Clock ticks since boot (USER_HZ, 100 on Linux): the child's age from it is a few seconds at most, not the
            // machine's uptime (what another field of /proc/PID/stat would give).
            var started = ParentProcess.StartTime(child.Id);
            Assert.NotNull(started);
            var uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            var age = uptime - (started.Value / 100.0);
            Assert.InRange(age, -0.5, 30);
        });

    /// <summary>Runs <paramref name="check"/> on a <c>sleep</c> child, then kills and reaps it; returns its pid.</summary>
    private static int WithSleepingChild(Action<Process> check)
    {
        using var child = Process.Start(new ProcessStartInfo("sleep", ["600"]))!;
        try
        {
            check(child);
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }

        return child.Id;
    }
}
