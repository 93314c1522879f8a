using System.Collections.Immutable;
using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>The two acceptor operations of CASPaxos.</summary>
public enum ReplicaOperation
{
    /// <summary>Promise the ballot and return the last accepted (ballot, value).</summary>
    Prepare = 0,

    /// <summary>Accept (ballot, value) and, in the same step, promise <see cref="ReplicaRequest.Next"/> (CASPaxos §2.2.1).</summary>
    Accept = 1,
}

/// <summary>A message from a proposer to one replica of a key. It carries the configuration epoch the proposer believes in.</summary>
[GenerateSerializer, Immutable, Alias("coord.ReplicaRequest")]
public sealed record ReplicaRequest(int Partition, long Epoch, string Key, ReplicaOperation Operation, Ballot Ballot, object? Value, Ballot Next);

/// <summary>How a replica answered.</summary>
public enum ReplicaStatus
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
[GenerateSerializer, Immutable, Alias("coord.ReplicaReply")]
public sealed record ReplicaReply(ReplicaStatus Status, long Epoch, Ballot Promise, Ballot Accepted, object? Value)
{
    public static ReplicaReply Refuse(ReplicaStatus status, long epoch) => new(status, epoch, Ballot.Zero, Ballot.Zero, null);
}

/// <summary>
/// Sent by a recovering replica to the other members of its new configuration: adopt this (committed)
/// configuration, which fences the old epoch at you, then give me every register of the partition.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.SnapshotRequest")]
public sealed record SnapshotRequest(PartitionConfiguration Configuration, ReplicaId Requester);

/// <summary>A source's copy of a partition, given only by an active member fenced at the request's epoch.</summary>
[GenerateSerializer, Immutable, Alias("coord.SnapshotReply")]
public sealed record SnapshotReply(ReplicaStatus Status, long Epoch, ImmutableDictionary<string, RegisterSlot>? Slots);
