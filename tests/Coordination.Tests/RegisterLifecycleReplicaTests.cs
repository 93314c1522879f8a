using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;

namespace Coordination.Tests;

/// <summary>
/// One replica's side of the register lifecycle: absent keys stand behind their bucket's floor, reads create
/// nothing, a tombstone is dropped only when it is exactly the one every member accepted, and whatever was
/// promised before a drop is still promised after it.
/// </summary>
public sealed class RegisterLifecycleReplicaTests
{
    private static readonly ReplicaId A = new("a"), B = new("b"), C = new("c"), D = new("d");

    private static PartitionConfiguration Config(long epoch, long lineage, params (ReplicaId Id, long Since)[] members) =>
        new(0, epoch, [.. members.Select(m => new ReplicaMember(m.Id, m.Since))], lineage, 1, []);

    private static ReplicaRequest Prepare(string key, long counter, long proposer = 1) =>
        new(0, 1, key, ReplicaOperation.Prepare, new Ballot(counter, proposer), null, Ballot.Zero);

    private static ReplicaRequest Accept(string key, long counter, object? value, long tokenFloor = 0, long proposer = 1) =>
        new(0, 1, key, ReplicaOperation.Accept, new Ballot(counter, proposer), value, new Ballot(counter + 1, proposer), tokenFloor);

    private static ReplicaRequest Forget(string key, long counter, long proposer = 1) =>
        new(0, 1, key, ReplicaOperation.Forget, new Ballot(counter, proposer), null, Ballot.Zero);

    private static PartitionReplica Active(ReplicaId self)
    {
        var r = new ReplicaNode(self, null!, null!, TimeProvider.System).Partition(0);
        r.Adopt(Config(1, 1, (A, 1), (B, 1), (C, 1)));
        return r;
    }

    [Fact]
    public void A_read_of_an_absent_key_creates_no_slot_but_its_promise_holds()
    {
        var r = Active(A);
        var promised = r.Handle(Prepare("k", 5));
        Assert.Equal(ReplicaStatus.Ok, promised.Status);
        Assert.Null(promised.Value);
        Assert.Equal(0, r.Count);
        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Accept("k", 4, "below the promise")).Status);
        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Prepare("k", 4)).Status);
        Assert.Equal(0, r.Count);
        Assert.Equal(ReplicaStatus.Ok, r.Handle(Accept("k", 5, "at the promise")).Status);
        Assert.Equal(1, r.Count);
    }

    [Fact]
    public void A_tombstone_is_stored_until_forgotten_and_forget_raises_the_floor_to_its_promise()
    {
        var r = Active(A);
        r.Handle(Accept("k", 1, "held"));
        r.Handle(Accept("k", 2, null, tokenFloor: 77));
        Assert.Equal(1, r.Count);
        Assert.Equal(77, r.TokenFloor);

        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Forget("k", 1)).Status);
        Assert.Equal(1, r.Count);
        Assert.Equal(ReplicaStatus.Ok, r.Handle(Forget("k", 2)).Status);
        Assert.Equal(0, r.Count);

        // The tombstone's piggybacked promise was 3: an old accept, however late, stays out.
        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Accept("k", 1, "late, old grant")).Status);
        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Accept("k", 2, "late, old grant")).Status);
        Assert.Equal(0, r.Count);
        var fresh = r.Handle(Prepare("k", 3));
        Assert.Equal(ReplicaStatus.Ok, fresh.Status);
        Assert.Null(fresh.Value);
        Assert.Equal(77, fresh.TokenFloor);
    }

    [Fact]
    public void Forget_leaves_a_value_written_after_the_tombstone_alone()
    {
        var r = Active(A);
        r.Handle(Accept("k", 2, null));
        r.Handle(Accept("k", 3, "re-created"));
        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Forget("k", 2)).Status);
        Assert.Equal("re-created", r.Handle(Prepare("k", 9)).Value);
    }

    [Fact]
    public void Absent_keys_share_their_bucket_floor_and_every_reply_carries_the_token_floor()
    {
        var r = Active(A);
        var sameBucket = Enumerable.Range(0, 10_000).Select(i => $"other/{i}").First(k => KeyFloors.BucketOf(k) == KeyFloors.BucketOf("k"));
        r.Handle(Prepare(sameBucket, 40));
        Assert.Equal(ReplicaStatus.Rejected, r.Handle(Prepare("k", 39)).Status);
        Assert.Equal(new Ballot(40, 1), r.Handle(Prepare("k", 39)).Promise);
        r.Handle(Accept("x", 1, null, tokenFloor: 12));
        Assert.Equal(12, r.Handle(Prepare("unrelated", 100)).TokenFloor);
    }

    [Fact]
    public void A_copy_is_paged_in_key_order_resumes_from_its_cursor_and_ends_with_the_floors()
    {
        var source = Active(A);
        for (var i = 0; i < 25; i++)
        {
            source.Handle(Accept($"k{i:00}", 1, $"v{i}"));
        }

        source.Handle(Accept("zz", 1, null, tokenFloor: 99));
        var next = Config(2, 1, (A, 1), (B, 1), (D, 2));
        var keys = new List<string>();
        string? cursor = null;
        SnapshotReply page;
        var pages = 0;
        do
        {
            page = source.Snapshot(new SnapshotRequest(next, D, cursor, MaxSlots: 10), out _);
            Assert.Equal(ReplicaStatus.Ok, page.Status);
            Assert.Equal(26, page.Total);
            Assert.True(page.Slots.Length <= 10);
            keys.AddRange(page.Slots.Select(s => s.Key));
            cursor = page.Next;
            pages++;
            Assert.Equal(page.Next is null, page.Floors is not null);
        }
        while (page.Next is not null);

        Assert.Equal(3, pages);
        Assert.Equal([.. Enumerable.Range(0, 25).Select(i => $"k{i:00}"), "zz"], keys);
        Assert.Equal(99, page.Floors!.TokenFloor);

        // Asking for a page again (its reply was lost) gives the same page.
        var again = source.Snapshot(new SnapshotRequest(next, D, "k09", MaxSlots: 10), out _);
        Assert.Equal("k10", again.Slots[0].Key);
    }

    [Fact]
    public void A_recovered_replica_keeps_the_floors_of_its_sources()
    {
        var d = new ReplicaNode(D, null!, null!, TimeProvider.System).Partition(0);
        var config = Config(2, 1, (A, 1), (B, 1), (D, 2));
        d.Adopt(config);
        var source = Active(A);
        source.Handle(Prepare("k", 50));
        source.Handle(Accept("t", 1, null, tokenFloor: 7));
        var floors = source.Snapshot(new SnapshotRequest(config, D), out _).Floors!;
        Assert.True(d.CompleteRecovery(config, new Dictionary<string, RegisterSlot>(), floors));
        Assert.Equal(7, d.TokenFloor);
        Assert.Equal(ReplicaStatus.Rejected, d.Handle(Prepare("k", 49) with { Epoch = 2 }).Status);
    }
}
