using System.Diagnostics;
using Coordination.TestKit;
using Xunit.Abstractions;

namespace Coordination.Process.Tests;

/// <summary>
/// A process told to stop (SIGTERM) finishes its graceful stop even when it takes longer than System.CommandLine's
/// default of 2 s: a silo leaves the cluster itself and exits with 0, and the launcher waits for its silos before it
/// exits. Cut at 2 s, both exited with 143 mid-stop, and the others took the silo for crashed.
/// </summary>
public sealed class GracefulStopTests(ITestOutputHelper output)
{
    /// <summary>Well above the 2 s that cut stops short, well below the host's 2-minute shutdown timeout.</summary>
    private static readonly TimeSpan SlowStop = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_silo_and_a_launcher_whose_stops_take_longer_than_two_seconds_finish_them_and_exit_with_zero()
    {
        await using var cluster = await LocalClusterProcess.StartAsync(
            "--Coordination:Host:FaultInjection=true",
            "--Coordination:Host:RestartFailedSilos=false");
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));

        var silo1 = await cluster.PidOfAsync(1);
        Assert.True(await cluster.SlowStopAsync(1, SlowStop), "silo1 refused the slow stop");
        var watch = Stopwatch.StartNew();
        Signals.Send(silo1, Signals.Term);
        var exit = await cluster.Launcher.WaitForLineAsync($@"Silo 1 \(pid {silo1}\) .*\bcode (-?\d+)", TimeSpan.FromSeconds(90));
        output.WriteLine($"silo1 stopped after {watch.Elapsed.TotalSeconds:0.0} s: {exit.Value}");
        Assert.Single(cluster.Launcher.Lines(@"\[silo1\].*this graceful stop waits 5 s"));
        Assert.True(exit.Groups[1].Value == "0", $"silo1 did not finish its graceful stop: {exit.Value}\n{cluster.Launcher.Tail()}");
        Assert.True(watch.Elapsed >= SlowStop, $"silo1 exited after {watch.Elapsed.TotalSeconds:0.0} s, before its stop's delay was over");

        var silo0 = await cluster.PidOfAsync(0);
        Assert.True(await cluster.SlowStopAsync(0, SlowStop), "silo0 refused the slow stop");
        watch.Restart();
        cluster.Launcher.Signal(Signals.Term);
        var code = await cluster.Launcher.WaitForExitAsync(TimeSpan.FromSeconds(90));
        output.WriteLine($"the launcher stopped after {watch.Elapsed.TotalSeconds:0.0} s with code {code}");
        Assert.True(code == 0, $"the launcher exited with {code}\n{cluster.Launcher.Tail()}");
        Assert.True(watch.Elapsed >= SlowStop, $"the launcher exited after {watch.Elapsed.TotalSeconds:0.0} s, before its silo0's stop could be over");
        Assert.False(Directory.Exists($"/proc/{silo0}"), "the launcher exited while its silo0 was still stopping");
    }
}
