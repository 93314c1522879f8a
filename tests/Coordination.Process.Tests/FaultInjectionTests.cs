using System.Diagnostics;
using Coordination.TestKit;
using Xunit.Abstractions;

namespace Coordination.Process.Tests;

/// <summary>
/// The fault suite's partition lever really partitions: with our probes off, so that only Orleans' own
/// membership (its probes travel over the silo-to-silo connections) can notice, a silo cut off from the
/// others is declared dead by them; nothing else in the cluster fails.
/// </summary>
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_partition_cuts_Orleans_own_connections_so_its_membership_declares_the_cut_silo_dead()
    {
        await using var cluster = await LocalClusterProcess.StartAsync(
            "--Coordination:Host:FaultInjection=true",
            "--Coordination:Host:Probes=Off",
            "--Coordination:Host:Membership=Fast",
            "--Coordination:Host:RestartFailedSilos=false");
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
        var victim = (await cluster.OrleansMembershipAsync(2))!.Value.Self;
        var watch = Stopwatch.StartNew();
        Assert.True(await cluster.PartitionAsync(2, [0, 1]), "silo2 refused the partition");
        Assert.True(await cluster.PartitionAsync(0, [2]), "silo0 refused the partition");
        Assert.True(await cluster.PartitionAsync(1, [2]), "silo1 refused the partition");

        await Eventually.Async(
            async () => (await cluster.OrleansMembershipAsync(0))?.Status.GetValueOrDefault(victim) == "Dead" && (await cluster.OrleansMembershipAsync(1))?.Status.GetValueOrDefault(victim) == "Dead",
            TimeSpan.FromSeconds(60),
            "Orleans' membership on silo0 and silo1 declaring the cut-off silo2 dead");
        output.WriteLine($"cut → Orleans declared silo2 dead after {watch.Elapsed.TotalSeconds:0.0} s");
        foreach (var i in new[] { 0, 1 })
        {
            var other = (await cluster.OrleansMembershipAsync(1 - i))!.Value.Self;
            Assert.Equal("Active", (await cluster.OrleansMembershipAsync(i))!.Value.Status[other]);
        }
    }
}
