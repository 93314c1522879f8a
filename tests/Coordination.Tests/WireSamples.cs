using Coordination.Grains.Elections;
using Coordination.Grains.Leases;
using Coordination.Grains.Values;
using Coordination.Replication.Protocol;

namespace Coordination.Tests;

/// <summary>
/// A batch of replica requests as a silo sends it, with the instances a writer shares inside one message: an
/// election's leader grant (in its queue and in its newest history entry) and the empty binding two values share.
/// </summary>
internal static class WireSamples
{
    public static readonly Guid Leader = Guid.Parse("6f1c2d3e-0000-4000-8000-000000000001");
    public static readonly Guid Held = Guid.Parse("6f1c2d3e-0000-4000-8000-000000000002");
    public static readonly Guid Queued = Guid.Parse("6f1c2d3e-0000-4000-8000-000000000003");
    public static readonly Guid Released = Guid.Parse("6f1c2d3e-0000-4000-8000-000000000004");

    public static ReplicaRequest[] Batch()
    {
        var leader = new LockGrant("session-1", Leader, 7, "owner-a", TimeSpan.Zero, TimeSpan.FromSeconds(10), "leader-value", 3);
        var election = new ElectionRecord(LockRecord.Empty with { LastToken = 7, Holder = leader }, 5, [new ElectionHistoryEntry(5, ElectionEventKind.Elected, leader)]);
        var held = new LockRecord(
            12,
            new LockGrant("session-2", Held, 12, null, TimeSpan.Zero, TimeSpan.FromSeconds(15), Sequence: 9, Cover: 4),
            [new LockRequest("session-3", Queued, "waiter", TimeSpan.Zero, TimeSpan.FromSeconds(15), Sequence: 2)],
            [new FinishedRequest("session-2", Released, 11, RequestEnd.Released, 8, Covered: true)],
            new PendingDelay(TimeSpan.FromSeconds(1), 10),
            3,
            [new SessionCover("session-2", 4, 4, 8, TimeSpan.FromSeconds(15))]);
        var one = new ValueRecord("one", 2, [new ValueHistoryEntry(2, ValueEventKind.Set, "one", Leader)], LockRecord.Empty);
        var two = new ValueRecord("two", 3, [new ValueHistoryEntry(3, ValueEventKind.Set, "two", Held)], LockRecord.Empty);
        return [Accept("e/election", election), Accept("l/orders/1", held), Accept("v/one", one), Accept("v/two", two)];
    }

    private static ReplicaRequest Accept(string key, object value) =>
        new(1, 4, key, ReplicaOperation.Accept, new Ballot(8, 2), value, new Ballot(9, 2));
}
