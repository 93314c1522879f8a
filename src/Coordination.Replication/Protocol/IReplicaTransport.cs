using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// Carries replica messages to one replica. Implementations: Orleans grain-service calls between silos
/// (a direct call for the local silo) and the simulated network of the deterministic tests. A message may
/// be lost, delayed, duplicated or reordered; the protocol never relies on otherwise.
/// </summary>
internal interface IReplicaTransport
{
    /// <summary>The replica this transport sends from, when it is one (a round asks it first); null otherwise.</summary>
    ReplicaId? Self => null;

    Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request, CancellationToken cancellationToken);

    /// <summary>A request nobody waits on (a tombstone's forget): the transport may hold it a little, to send it with others.</summary>
    Task<ReplicaReply> SendLaterAsync(ReplicaId target, ReplicaRequest request) => SendAsync(target, request, CancellationToken.None);

    Task<SnapshotReply> SnapshotAsync(ReplicaId target, SnapshotRequest request, CancellationToken cancellationToken);

    /// <summary>Tells a replica that is behind about a committed configuration (a hint; it may be lost).</summary>
    Task AdoptAsync(ReplicaId target, PartitionConfiguration configuration, CancellationToken cancellationToken);
}
