using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Coordination.Simulation.Tests.Sim;

namespace Coordination.Simulation.Tests;

/// <summary>
/// The replicas' tombstone collectors take turns: the members of a partition often hold the same leftover tombstones,
/// and three collectors preparing one key at once pre-empt each other and triple the work. The member a key's bucket
/// designates collects it first; each next member steps in later, when the one before does not (it dropped its copy,
/// or cannot finish). A partition whose member does not answer is left for the next pass at its first stall.
/// </summary>
public sealed class TombstoneCollectorSimulationTests
{
    private const int Keys = 40;

    [Fact]
    public void Each_tombstone_is_collected_once_by_the_member_its_key_designates_while_all_collect_at_once()
    {
        var cluster = new SimCluster(seed: 7);
        var config = cluster.Configuration;
        var keys = Names(Keys);
        foreach (var key in keys)
        {
            Tombstone(cluster, key, cluster.Nodes);
        }

        var collectors = Collectors(cluster);
        Assert.All(Pass(cluster, collectors).Values, n => Assert.Equal(0, n));
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
    public void A_tombstone_its_designated_member_no_longer_holds_is_collected_by_the_next_member()
    {
        var cluster = new SimCluster(seed: 11);
        var config = cluster.Configuration;
        foreach (var key in Names(Keys))
        {
            // The designated member took the forget, the others did not.
            Tombstone(cluster, key, cluster.Nodes.Where(n => n.Self != TombstoneCollector.Designated(config, key)));
        }

        var collectors = Collectors(cluster);
        var next = TombstoneCollector.DesignatedPasses + TombstoneCollector.FallbackPasses;
        for (var pass = 1; pass < next; pass++)
        {
            Assert.All(Pass(cluster, collectors).Values, n => Assert.Equal(0, n));
        }

        var last = Pass(cluster, collectors);
        Assert.True(Keys == last.Values.Sum(), $"pass {next} dropped {last.Values.Sum()} of {Keys}: {string.Join(", ", last.Select(kv => $"{kv.Key} {kv.Value}"))}");
        Assert.All(cluster.Nodes, n => Assert.Equal(0, n.Partition(0).Count));
    }

    [Fact]
    public void A_pass_leaves_a_partition_whose_member_does_not_answer_at_its_first_stall()
    {
        const int Many = 200;
        var cluster = new SimCluster(seed: 13);
        var config = cluster.Configuration;
        var self = cluster.Nodes.First();
        var keys = Names(20 * Many).Where(k => TombstoneCollector.Designated(config, k) == self.Self).Take(Many).ToList();
        Assert.Equal(Many, keys.Count);
        foreach (var key in keys)
        {
            Tombstone(cluster, key, cluster.Nodes);
        }

        var collector = Collectors(cluster)[self.Self];
        var only = new Dictionary<ReplicaId, TombstoneCollector> { [self.Self] = collector };
        Pass(cluster, only);
        var silent = cluster.Nodes.First(n => n.Self != self.Self).Self;
        cluster.Net.Cut(self.Self, silent);
        var sent = cluster.Net.Sent;
        Assert.Equal(0, Pass(cluster, only)[self.Self]);
        Assert.True(cluster.Net.Sent - sent < Many, $"{cluster.Net.Sent - sent} requests for {Many} due keys of a partition with a silent member: the pass went on asking it");
        Assert.Equal(Many, self.Partition(0).Count);

        cluster.Net.HealAll();
        Assert.Equal(Many, Pass(cluster, only)[self.Self]);
    }

    private static List<string> Names(int count) => [.. Enumerable.Range(0, count).Select(i => $"l/entity-{i}")];

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

    /// <summary>Each member's collector, with hints of its own (as each silo has).</summary>
    private static Dictionary<ReplicaId, TombstoneCollector> Collectors(SimCluster cluster) =>
        cluster.Nodes.ToDictionary(n => n.Self, n => new TombstoneCollector(n, cluster.Net.TransportFor(n.Self), new BallotHints(), cluster.Sim.Clock, TimeSpan.FromMilliseconds(20)));

    /// <summary>One pass of every collector, all at once; what each dropped everywhere.</summary>
    private static Dictionary<ReplicaId, int> Pass(SimCluster cluster, Dictionary<ReplicaId, TombstoneCollector> collectors)
    {
        var passes = collectors.ToDictionary(c => c.Key, c => cluster.Sim.Start(() => c.Value.CollectAsync(CancellationToken.None)));
        Assert.True(cluster.Sim.RunUntil(() => passes.Values.All(p => p.IsCompleted), TimeSpan.FromSeconds(5)), "a collector did not finish its pass");
        return passes.ToDictionary(p => p.Key, p => p.Value.Result);
    }
}
