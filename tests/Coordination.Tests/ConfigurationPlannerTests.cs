using Coordination.Replication.Configuration;

namespace Coordination.Tests;

public sealed class ConfigurationPlannerTests
{
    private static readonly AuditEntry Audit = new(DateTimeOffset.UnixEpoch, "test", "x", "test", 0, []);

    private static ReplicaId R(string name) => new($"10.0.0.{name}:11111@1");

    private static SiloPopulation Pop(IEnumerable<ReplicaId> live, IEnumerable<ReplicaId>? dead = null, IEnumerable<ReplicaId>? leaving = null) =>
        new([.. live], (dead ?? []).ToHashSet(), (leaving ?? []).ToHashSet());

    private static ClusterMetadata Assigned(int partitions, params ReplicaId[] silos)
    {
        var m = ClusterMetadata.Create(partitions, 3, Audit);
        return ConfigurationPlanner.Plan(m, Pop(silos))!;
    }

    [Fact]
    public void Partitions_stay_unassigned_until_enough_silos_are_live()
    {
        var m = ClusterMetadata.Create(4, 3, Audit);
        Assert.Null(ConfigurationPlanner.Plan(m, Pop([R("1"), R("2")])));
    }

    [Fact]
    public void Genesis_assigns_distinct_members_that_start_as_a_fresh_lineage_and_spreads_load()
    {
        var silos = new[] { R("1"), R("2"), R("3"), R("4") };
        var m = Assigned(8, silos);
        Assert.All(m.Partitions, p =>
        {
            Assert.Equal(1, p.Epoch);
            Assert.Equal(3, p.Members.Select(x => x.Id).Distinct().Count());
            Assert.All(p.Members, x => Assert.Equal(p.LineageEpoch, x.Since));
            Assert.Equal(1, p.TokenEpoch);
            Assert.Empty(p.Recovering);
        });
        var load = silos.Select(s => m.Partitions.Count(p => p.Contains(s))).ToList();
        Assert.Equal(24, load.Sum());
        Assert.True(load.Max() - load.Min() <= 1, string.Join(",", load));
    }

    [Fact]
    public void Replicas_go_on_distinct_hosts_where_the_cluster_has_them()
    {
        var silos = new[] { new ReplicaId("10.0.0.1:1@1"), new ReplicaId("10.0.0.1:2@1"), new ReplicaId("10.0.0.2:1@1"), new ReplicaId("10.0.0.3:1@1") };
        var m = Assigned(6, silos);
        Assert.All(m.Partitions, p => Assert.Equal(3, p.Members.Select(x => x.Id.Host).Distinct().Count()));
    }

    [Fact]
    public void A_dead_member_is_replaced_by_one_recovering_newcomer_in_the_next_epoch()
    {
        var m = Assigned(1, R("1"), R("2"), R("3"));
        var next = ConfigurationPlanner.Plan(m, Pop([R("2"), R("3"), R("4")], dead: [R("1")]))!;
        var p = next.Partitions[0];
        Assert.Equal(2, p.Epoch);
        Assert.Equal([R("2"), R("3"), R("4")], p.Members.Select(x => x.Id).Order());
        Assert.Equal(2, p.Find(R("4"))!.Since);
        Assert.Equal([R("4")], [.. p.Recovering]);
        Assert.Equal(m.Version + 1, next.Version);
    }

    [Fact]
    public void No_second_change_while_a_newcomer_is_recovering_unless_the_newcomer_itself_died()
    {
        var m = Assigned(1, R("1"), R("2"), R("3"));
        m = ConfigurationPlanner.Plan(m, Pop([R("2"), R("3"), R("4")], dead: [R("1")]))!;
        Assert.Null(ConfigurationPlanner.Plan(m, Pop([R("3"), R("4"), R("5")], dead: [R("1"), R("2")])));
        var replaced = ConfigurationPlanner.Plan(m, Pop([R("2"), R("3"), R("5")], dead: [R("1"), R("4")]))!.Partitions[0];
        Assert.Equal([R("2"), R("3"), R("5")], replaced.Members.Select(x => x.Id).Order());
        Assert.Equal([R("5")], [.. replaced.Recovering]);
    }

    [Fact]
    public void A_leaving_member_is_moved_off_while_it_can_still_be_copied_from()
    {
        var m = Assigned(1, R("1"), R("2"), R("3"));
        var p = ConfigurationPlanner.Plan(m, Pop([R("1"), R("2"), R("3"), R("4")], leaving: [R("2")]))!.Partitions[0];
        Assert.False(p.Contains(R("2")));
        Assert.True(p.Contains(R("4")));
    }

    [Fact]
    public void Nothing_changes_when_no_replacement_silo_exists()
    {
        var m = Assigned(1, R("1"), R("2"), R("3"));
        Assert.Null(ConfigurationPlanner.Plan(m, Pop([R("2"), R("3")], dead: [R("1")])));
    }

    [Fact]
    public void A_partition_that_lost_its_majority_is_left_alone_until_an_explicit_reinitialisation()
    {
        var m = Assigned(2, R("1"), R("2"), R("3"));
        var pop = Pop([R("3"), R("4"), R("5")], dead: [R("1"), R("2")]);
        Assert.True(ConfigurationPlanner.HasLostMajority(m.Partitions[0], pop.IsDead));
        Assert.Null(ConfigurationPlanner.Plan(m, pop));

        var re = ConfigurationPlanner.Reinitialize(m, [], pop, Audit with { Operator = "alice", Reason = "two silos lost" });
        Assert.Equal(2, re.ClusterEpoch);
        Assert.All(re.Partitions, p =>
        {
            Assert.Equal(2, p.Epoch);
            Assert.Equal(2, p.LineageEpoch);
            Assert.Equal(2, p.TokenEpoch);
            Assert.DoesNotContain(p.Members, x => pop.IsDead(x.Id));
        });
        var entry = re.Audit[^1];
        Assert.Equal("alice", entry.Operator);
        Assert.Equal(2, entry.ClusterEpoch);
        Assert.Equal([0, 1], [.. entry.Partitions]);
    }

    [Fact]
    public void Reinitialisation_refuses_partitions_that_still_have_a_majority()
    {
        var m = Assigned(1, R("1"), R("2"), R("3"));
        var error = Assert.Throws<CoordinationArgumentException>(() =>
            ConfigurationPlanner.Reinitialize(m, [0], Pop([R("2"), R("3"), R("4")], dead: [R("1")]), Audit));
        Assert.Contains("still has a majority", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_recovering_member_does_not_count_toward_the_majority_that_holds_state()
    {
        var config = new PartitionConfiguration(0, 2, [new(R("1"), 1), new(R("2"), 1), new(R("4"), 2)], 1, 1, [R("4")]);
        Assert.False(ConfigurationPlanner.HasLostMajority(config, _ => false));
        Assert.True(ConfigurationPlanner.HasLostMajority(config, id => id == R("1")));
    }

    /// <summary>
    /// A member the metadata lists as recovering whose "recovered" report has not landed, but which says it is
    /// active at the partition's epoch, holds the state: with it and one other live member the partition keeps
    /// its majority, is not reported lost, and is not offered for re-initialisation (issue 11, item 7).
    /// </summary>
    [Fact]
    public void A_member_whose_recovered_report_has_not_landed_counts_once_it_says_it_is_active()
    {
        var config = new PartitionConfiguration(0, 2, [new(R("1"), 1), new(R("2"), 1), new(R("4"), 2)], 1, 1, [R("4")]);
        var m = ClusterMetadata.Create(1, 3, Audit).WithPartitions([config]);
        var pop = Pop([R("2"), R("4"), R("5")], dead: [R("1")]);
        Assert.True(ConfigurationPlanner.HasLostMajority(config, pop.IsDead), "without asking, the listed member looks empty");
        Assert.False(ConfigurationPlanner.HasLostMajority(config, pop.IsDead, id => id == R("4")));
        var error = Assert.Throws<CoordinationArgumentException>(() => ConfigurationPlanner.Reinitialize(m, [0], pop, Audit, (p, id) => p == 0 && id == R("4")));
        Assert.Contains("still has a majority", error.Message, StringComparison.Ordinal);
        Assert.Equal(config.Epoch, ConfigurationPlanner.Reinitialize(m, [], pop, Audit, (p, id) => p == 0 && id == R("4")).Partitions[0].Epoch);
    }

    [Fact]
    public void Marking_recovered_only_applies_to_the_same_membership()
    {
        var config = new PartitionConfiguration(0, 2, [new(R("1"), 1), new(R("2"), 1), new(R("4"), 2)], 1, 1, [R("4")]);
        var m = ClusterMetadata.Create(1, 3, Audit).WithPartitions([config]);
        Assert.Null(ConfigurationPlanner.MarkRecovered(m, 0, R("4"), since: 1));
        Assert.Empty(ConfigurationPlanner.MarkRecovered(m, 0, R("4"), since: 2)!.Partitions[0].Recovering);
    }

    [Fact]
    public async Task In_memory_store_is_compare_and_swap_on_the_version()
    {
        var store = new InMemoryClusterMetadataStore();
        var m = ClusterMetadata.Create(1, 3, Audit);
        Assert.True(await store.TryWriteAsync(0, m));
        Assert.False(await store.TryWriteAsync(0, m));
        Assert.False(await store.TryWriteAsync(7, m with { Version = 8 }));
        Assert.True(await store.TryWriteAsync(1, m with { Version = 2 }));
        Assert.Equal(2, (await store.ReadAsync())!.Version);
        await Assert.ThrowsAsync<ArgumentException>(() => store.TryWriteAsync(2, m with { Version = 2 }));
    }

    [Fact]
    public void Keys_map_to_stable_partitions()
    {
        Assert.Equal(Partitioner.PartitionOf("l/orders/42", 64), Partitioner.PartitionOf("l/orders/42", 64));
        var spread = Enumerable.Range(0, 6400).Select(i => Partitioner.PartitionOf($"l/k{i}", 64)).GroupBy(p => p).Select(g => g.Count()).ToList();
        Assert.Equal(64, spread.Count);
        Assert.True(spread.Min() > 50, $"uneven: {spread.Min()}..{spread.Max()}");
    }
}

public sealed class DrainPlanningTests
{
    private static readonly AuditEntry Audit = new(DateTimeOffset.UnixEpoch, "test", "x", "test", 0, []);

    private static ReplicaId R(string name) => new($"10.0.0.{name}:11111@1");

    private static ClusterMetadata ThreeSilos() =>
        ConfigurationPlanner.Plan(ClusterMetadata.Create(2, 3, Audit), new SiloPopulation([R("1"), R("2"), R("3")], new HashSet<ReplicaId>(), new HashSet<ReplicaId>()))!;

    [Fact]
    public void A_silo_may_stop_when_the_others_hold_a_caught_up_majority()
    {
        var m = ThreeSilos();
        Assert.Empty(ConfigurationPlanner.ShortWithout(m, R("1"), _ => false));
    }

    [Fact]
    public void Once_one_silo_announced_its_drain_a_second_one_must_wait()
    {
        var m = ConfigurationPlanner.WithDraining(ThreeSilos(), R("1"));
        Assert.True(m.IsDraining(R("1")));
        Assert.Same(m, ConfigurationPlanner.WithDraining(m, R("1")));
        var shortOf = ConfigurationPlanner.ShortWithout(m, R("2"), _ => false);
        Assert.Equal(2, shortOf.Count);
    }

    [Fact]
    public void Waiting_helps_while_a_member_copies_or_a_spare_silo_exists_and_not_otherwise()
    {
        var m = ThreeSilos();
        bool Dead1(ReplicaId id) => id == R("1");
        var p = ConfigurationPlanner.ShortWithout(m, R("2"), Dead1)[0];
        Assert.False(ConfigurationPlanner.CanRecover(m, p, R("2"), Dead1, [R("2"), R("3")]));
        Assert.True(ConfigurationPlanner.CanRecover(m, p, R("2"), Dead1, [R("2"), R("3"), R("4")]));

        var replaced = ConfigurationPlanner.Plan(m, new SiloPopulation([R("2"), R("3"), R("4")], new HashSet<ReplicaId> { R("1") }, new HashSet<ReplicaId>()))!;
        var q = ConfigurationPlanner.ShortWithout(replaced, R("2"), Dead1)[0];
        Assert.True(q.IsRecovering(R("4")));
        Assert.True(ConfigurationPlanner.CanRecover(replaced, q, R("2"), Dead1, [R("2"), R("3"), R("4")]));
    }

    [Fact]
    public void The_planner_moves_replicas_off_draining_silos_and_forgets_dead_ones()
    {
        var m = ConfigurationPlanner.WithDraining(ThreeSilos(), R("1"));
        var moved = ConfigurationPlanner.Plan(m, new SiloPopulation([R("1"), R("2"), R("3"), R("4")], new HashSet<ReplicaId>(), new HashSet<ReplicaId>()))!;
        Assert.All(moved.Partitions, p => Assert.False(p.Contains(R("1"))));
        var forgotten = ConfigurationPlanner.Plan(moved, new SiloPopulation([R("2"), R("3"), R("4")], new HashSet<ReplicaId> { R("1") }, new HashSet<ReplicaId>()));
        Assert.False(forgotten!.IsDraining(R("1")));
    }
}
