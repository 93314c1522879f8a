using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Orleans.Services;

namespace Coordination.Replication.Hosting;

/// <summary>The replica endpoint every silo runs (one Orleans grain service per silo, never collected or migrated).</summary>
[Alias("coord.IReplicaService")]
internal interface IReplicaService : IGrainService
{
    [Alias("handle")]
    Task<ReplicaReply> Handle(ReplicaRequest request);

    /// <summary>Handles several requests in one message, in order; one reply per request, at the same index.</summary>
    [Alias("handle-batch")]
    Task<ReplicaReply[]> HandleBatch(ReplicaRequest[] requests);

    /// <summary>The port this silo takes replica batches on directly; 0 when it does not (then send them through Orleans).</summary>
    [Alias("direct-port")]
    Task<int> DirectPort();

    [Alias("snapshot")]
    Task<SnapshotReply> Snapshot(SnapshotRequest request);

    [Alias("adopt")]
    Task Adopt(PartitionConfiguration configuration);

    /// <summary>A page of the live keys this silo's replica of a partition holds, for operator listings.</summary>
    [Alias("keys")]
    Task<KeyPage> Keys(KeyPageRequest request);
}
