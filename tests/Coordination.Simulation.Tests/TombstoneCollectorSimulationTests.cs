using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Coordination.Simulation.Tests.Sim;

namespace Coordination.Simulation.Tests;

/// <summary>
/// The replicas' tombstone collector takes turns: every member of a partition holds the same leftover tombstones, and
/// three collectors preparing one key at once pre-empt each other and triple the work. The member a key's bucket
/// designates collects it first; the others step in only when it does not (it dropped its copy, or cannot finish).
/// </summary>
public sealed class TombstoneCollectorSimulationTests
{
    private const int Keys = 40;

    [Fact]
    public void Each_tombstone_is_collected_by_the_member_its_key_designates()
    {
        var cluster = new SimCluster(seed: 7);
        var config = cluster.Configuration;
        var keys = Enumerable.Range(0, Keys).Select(i => $"l/entity-{i}").ToList();
        foreach (var key in keys)
        {
            Tombstone(cluster, key, cluster.Nodes);
        }

        var collectors = Collectors(cluster);
        Pass(cluster, collectors);
        var collected = Pass(cluster, collectors);

        foreach (var node in cluster.Nodes)
        {
            var designated = keys.Count(k => TombstoneCollector.Designated(config, k) == node.Self);
            Assert.True(designated > 0, $"no key of {Keys} designates {node.Self}: pick other keys");
            Assert.Equal(designated, collected[node.Self]);
        }

        Assert.All(cluster.Nodes, n => Assert.Equal(0, n.Partition(0).Count));
    }

    [Fact]
    public void A_tombstone_its_designated_member_no_longer_holds_is_collected_by_the_others()
    {
        var cluster = new SimCluster(seed: 11);
        var config = cluster.Configuration;
        var keys = Enumerable.Range(0, Keys).Select(i => $"l/entity-{i}").ToList();
        foreach (var key in keys)
        {
            // The designated member took the forget, the others did not.
            Tombstone(cluster, key, cluster.Nodes.Where(n => n.Self != TombstoneCollector.Designated(config, key)));
        }

        var collectors = Collectors(cluster);
        for (var pass = 1; pass < TombstoneCollector.OtherPasses; pass++)
        {
            Assert.All(Pass(cluster, collectors).Values, n => Assert.Equal(0, n));
        }

        var last = Pass(cluster, collectors);
        Assert.True(Keys == last.Values.Sum(), string.Join(", ", last.Select(kv => $"{kv.Key}: {kv.Value}")) + " left " + string.Join(", ", cluster.Nodes.Select(n => $"{n.Self}: {n.Partition(0).Count}")));
        Assert.All(cluster.Nodes, n => Assert.Equal(0, n.Partition(0).Count));
    }

    /// <summary>Writes <paramref name="key"/>'s tombstone (an accepted null) at <paramref name="at"/>, as a deletion whose forget never came.</summary>
    private static void Tombstone(SimCluster cluster, string key, IEnumerable<ReplicaNode> at)
    {
        var epoch = cluster.Configuration.Epoch;
        var ballot = new Ballot(5, 1);
        foreach (var node in at)
        {
            Assert.Equal(ReplicaStatus.Ok, node.Handle(new ReplicaRequest(0, epoch, key, ReplicaOperation.Prepare, ballot, null, Ballot.Zero)).Status);
            Assert.Equal(ReplicaStatus.Ok, node.Handle(new ReplicaRequest(0, epoch, key, ReplicaOperation.Accept, ballot, null, new Ballot(6, 1), 3)).Status);
        }
    }

    private static Dictionary<ReplicaId, TombstoneCollector> Collectors(SimCluster cluster)
    {
        var hints = new BallotHints();
        return cluster.Nodes.ToDictionary(n => n.Self, n => new TombstoneCollector(n, cluster.Net.TransportFor(n.Self), hints, cluster.Sim.Clock, TimeSpan.FromMilliseconds(20)));
    }

    /// <summary>One pass of every member's collector, one after the other; what each dropped everywhere.</summary>
    private static Dictionary<ReplicaId, int> Pass(SimCluster cluster, Dictionary<ReplicaId, TombstoneCollector> collectors)
    {
        var collected = new Dictionary<ReplicaId, int>();
        foreach (var (self, collector) in collectors)
        {
            var pass = cluster.Sim.Start(() => collector.CollectAsync(CancellationToken.None));
            Assert.True(cluster.Sim.RunUntil(pass, TimeSpan.FromSeconds(1)), $"{self}'s collector did not finish its pass");
            collected[self] = pass.Result;
        }

        return collected;
    }
}
