using System.Collections.Immutable;
using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>The two acceptor operations of CASPaxos.</summary>
internal enum ReplicaOperation
{
    /// <summary>Promise the ballot and return the last accepted (ballot, value).</summary>
    Prepare = 0,

    /// <summary>Accept (ballot, value) and, in the same step, promise <see cref="ReplicaRequest.Next"/> (CASPaxos §2.2.1).</summary>
    Accept = 1,

    /// <summary>
    /// Drop the key's slot if it still holds the tombstone (nothing) accepted at <see cref="ReplicaRequest.Ballot"/>,
    /// raising its bucket's floor to the slot's promise. Sent only after every configured member accepted that
    /// tombstone in this epoch (see <see cref="KeyFloors"/>).
    /// </summary>
    Forget = 2,

    /// <summary>Changes nothing: answers Ok when the replica is an active member at the request's epoch (it holds the partition's state).</summary>
    Status = 3,
}

/// <summary>A message from a proposer to one replica of a key. It carries the configuration epoch the proposer believes in.</summary>
/// <param name="TokenFloor">On an accept that deletes a register (a null value): its last token, which the partition's token floor must keep.</param>
// Not tracked by reference: no writer puts one twice into a message, and the deserializer's table of the objects it
// has read overflowed on every batch. Only such types may say so (WireCompatibilityTests).
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.ReplicaRequest")]
internal sealed record ReplicaRequest(int Partition, long Epoch, string Key, ReplicaOperation Operation, Ballot Ballot, object? Value, Ballot Next, long TokenFloor = 0);

/// <summary>How a replica answered.</summary>
internal enum ReplicaStatus
{
    /// <summary>Promised (prepare) or accepted (accept).</summary>
    Ok = 0,

    /// <summary>The ballot is below the replica's promise; <see cref="ReplicaReply.Promise"/> says how far to jump.</summary>
    Rejected = 1,

    /// <summary>The replica is at another configuration epoch (<see cref="ReplicaReply.Epoch"/>): newer means the proposer is stale, older means the replica is.</summary>
    EpochMismatch = 2,

    /// <summary>The replica is copying state after joining; it does not vote yet.</summary>
    Recovering = 3,

    /// <summary>The replica is not a member of the partition's configuration at that epoch.</summary>
    NotMember = 4,
}

/// <summary>A replica's answer. For a successful prepare it carries the last accepted (ballot, value).</summary>
/// <param name="TokenFloor">The partition's token floor at this replica: fresh registers start their tokens above it.</param>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.ReplicaReply")]
internal sealed record ReplicaReply(ReplicaStatus Status, long Epoch, Ballot Promise, Ballot Accepted, object? Value, long TokenFloor = 0)
{
    public static ReplicaReply Refuse(ReplicaStatus status, long epoch) => new(status, epoch, Ballot.Zero, Ballot.Zero, null);
}

/// <summary>
/// Sent by a recovering replica to the other members of its new configuration: adopt this (committed)
/// configuration, which fences the old epoch at you, then give me the next page of the partition's registers,
/// in key order, after <paramref name="After"/> (null: from the start).
/// </summary>
/// <param name="MaxSlots">At most this many registers in the page.</param>
/// <param name="MaxBytes">At most about this many bytes of register values in the page (at least one register is sent).</param>
[GenerateSerializer, Immutable, Alias("coord.SnapshotRequest")]
internal sealed record SnapshotRequest(PartitionConfiguration Configuration, ReplicaId Requester, string? After = null, int MaxSlots = 512, int MaxBytes = 256 * 1024);

/// <summary>One register of a copied page.</summary>
[GenerateSerializer, Immutable, Alias("coord.KeyedSlot")]
internal readonly record struct KeyedSlot(string Key, RegisterSlot Slot);

/// <summary>
/// One page of a source's copy of a partition, given only by an active member fenced at the request's epoch.
/// <paramref name="Next"/> is the cursor of the following page (null on the last page, which also carries the
/// source's <paramref name="Floors"/>); <paramref name="Total"/> is how many registers the source held when the copy began.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.SnapshotReply")]
internal sealed record SnapshotReply(ReplicaStatus Status, long Epoch, ImmutableArray<KeyedSlot> Slots, string? Next = null, FloorsCopy? Floors = null, int Total = 0)
{
    public static SnapshotReply Refuse(ReplicaStatus status, long epoch) => new(status, epoch, []);

    public bool IsLast => Status == ReplicaStatus.Ok && Next is null;
}
