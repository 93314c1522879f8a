using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;

namespace Coordination.Tests;

public sealed class PartitionReplicaTests
{
    private static readonly ReplicaId A = new("a"), B = new("b"), C = new("c"), D = new("d");

    private static PartitionConfiguration Config(long epoch, long lineage, params (ReplicaId Id, long Since)[] members) =>
        new(0, epoch, [.. members.Select(m => new ReplicaMember(m.Id, m.Since))], lineage, 1, []);

    private static ReplicaRequest Prepare(long epoch, string key, long counter) => new(0, epoch, key, ReplicaOperation.Prepare, new Ballot(counter, 1), null, Ballot.Zero);

    private static ReplicaRequest Accept(long epoch, string key, long counter, object value) =>
        new(0, epoch, key, ReplicaOperation.Accept, new Ballot(counter, 1), value, new Ballot(counter + 1, 1));

    private static PartitionReplica NewReplica(ReplicaId self, bool voteWithoutRecovery = false) =>
        new ReplicaNode(self, null!, null!, TimeProvider.System, new ReplicationFaults { VoteWithoutRecovery = voteWithoutRecovery }).Partition(0);

    [Fact]
    public void Genesis_members_start_active_and_vote()
    {
        var r = NewReplica(A);
        Assert.Equal(AdoptOutcome.Adopted, r.Adopt(Config(1, 1, (A, 1), (B, 1), (C, 1))));
        Assert.Equal(ReplicaRole.Active, r.Role);
        Assert.Equal(ReplicaStatus.Ok, r.Handle(Prepare(1, "k", 1)).Status);
    }

    [Fact]
    public void Messages_of_another_epoch_are_refused_with_the_replica_epoch()
    {
        var r = NewReplica(A);
        r.Adopt(Config(2, 2, (A, 2), (B, 2), (C, 2)));
        var reply = r.Handle(Prepare(1, "k", 1));
        Assert.Equal(ReplicaStatus.EpochMismatch, reply.Status);
        Assert.Equal(2, reply.Epoch);
        Assert.Equal(ReplicaStatus.EpochMismatch, r.Handle(Prepare(3, "k", 1)).Status);
    }

    [Fact]
    public void A_member_that_joins_a_running_partition_recovers_before_it_votes()
    {
        var r = NewReplica(D);
        Assert.Equal(AdoptOutcome.StartedRecovering, r.Adopt(Config(2, 1, (A, 1), (B, 1), (D, 2))));
        Assert.Equal(ReplicaStatus.Recovering, r.Handle(Prepare(2, "k", 5)).Status);
    }

    [Fact]
    public void The_broken_variant_lets_an_empty_newcomer_vote_at_once()
    {
        var r = NewReplica(D, voteWithoutRecovery: true);
        r.Adopt(Config(2, 1, (A, 1), (B, 1), (D, 2)));
        Assert.Equal(ReplicaStatus.Ok, r.Handle(Prepare(2, "k", 5)).Status);
    }

    [Fact]
    public void A_snapshot_source_adopts_the_newer_epoch_first_which_fences_the_old_one()
    {
        var source = NewReplica(A);
        source.Adopt(Config(1, 1, (A, 1), (B, 1), (C, 1)));
        source.Handle(Accept(1, "k", 1, "v"));
        var next = Config(2, 1, (A, 1), (B, 1), (D, 2));
        var reply = source.Snapshot(new SnapshotRequest(next, D), out _);
        Assert.Equal(ReplicaStatus.Ok, reply.Status);
        Assert.Equal("v", Assert.Single(reply.Slots).Slot.Value);
        Assert.Equal(ReplicaStatus.EpochMismatch, source.Handle(Accept(1, "k", 3, "late")).Status);
    }

    [Fact]
    public void Recovery_takes_the_highest_accepted_value_and_the_highest_promise()
    {
        var d = NewReplica(D);
        var config = Config(2, 1, (A, 1), (B, 1), (D, 2));
        d.Adopt(config);
        var merged = new Dictionary<string, RegisterSlot> { ["k"] = RegisterSlot.Merge(new(new Ballot(9, 1), new Ballot(3, 1), "old"), new(new Ballot(5, 2), new Ballot(4, 2), "new")) };
        Assert.True(d.CompleteRecovery(config, merged, FloorsCopy.Empty));
        Assert.Equal(ReplicaRole.Active, d.Role);
        Assert.Equal(ReplicaStatus.Rejected, d.Handle(Accept(2, "k", 8, "stale")).Status);
        var promised = d.Handle(Prepare(2, "k", 10));
        Assert.Equal("new", promised.Value);
    }

    [Fact]
    public void A_continuing_member_keeps_its_state_across_epochs_and_a_removed_one_drops_it()
    {
        var a = NewReplica(A);
        a.Adopt(Config(1, 1, (A, 1), (B, 1), (C, 1)));
        a.Handle(Accept(1, "k", 1, "v"));
        a.Adopt(Config(3, 1, (A, 1), (B, 1), (D, 3)));
        Assert.Equal(ReplicaRole.Active, a.Role);
        Assert.Equal("v", a.Handle(Prepare(3, "k", 5)).Value);
        a.Adopt(Config(4, 1, (B, 1), (C, 4), (D, 3)));
        Assert.Equal(ReplicaRole.NotMember, a.Role);
        Assert.Equal(0, a.Count);
    }

    [Fact]
    public void A_member_removed_and_added_again_must_recover_and_a_reinitialised_lineage_starts_empty()
    {
        var a = NewReplica(A);
        a.Adopt(Config(1, 1, (A, 1), (B, 1), (C, 1)));
        a.Handle(Accept(1, "k", 1, "v"));
        Assert.Equal(AdoptOutcome.StartedRecovering, a.Adopt(Config(5, 1, (A, 5), (B, 1), (C, 1))));
        Assert.Equal(AdoptOutcome.Adopted, a.Adopt(Config(6, 6, (A, 6), (B, 6), (C, 6))));
        Assert.Equal(ReplicaRole.Active, a.Role);
        Assert.Null(a.Handle(Prepare(6, "k", 9)).Value);
    }

    [Fact]
    public void Older_configurations_are_ignored()
    {
        var a = NewReplica(A);
        a.Adopt(Config(3, 1, (A, 1), (B, 1), (C, 1)));
        Assert.Equal(AdoptOutcome.Ignored, a.Adopt(Config(2, 1, (A, 1), (B, 1), (C, 1))));
        Assert.Equal(3, a.Configuration.Epoch);
    }
}
