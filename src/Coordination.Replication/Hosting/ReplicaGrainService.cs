using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Coordination.Replication.Hosting;

/// <summary>
/// The Orleans face of this silo's <see cref="ReplicaNode"/>. A grain service lives exactly as long as
/// its silo, which is the lifetime replica state must have: bound to one silo incarnation.
/// </summary>
[Reentrant]
internal sealed class ReplicaGrainService : GrainService, IReplicaService
{
    private readonly ReplicaNode _node;
    private readonly DirectReplicaListener _direct;

    public ReplicaGrainService(GrainId id, Silo silo, ILoggerFactory loggerFactory, ReplicaNode node, DirectReplicaListener direct)
        : base(id, silo, loggerFactory)
    {
        _node = node;
        _direct = direct;
    }

    public Task<ReplicaReply> Handle(ReplicaRequest request) => Task.FromResult(_node.Handle(request));

    public Task<ReplicaReply[]> HandleBatch(ReplicaRequest[] requests) => Task.FromResult(Array.ConvertAll(requests, _node.Handle));

    public Task<int> DirectPort() => Task.FromResult(_direct.Port);

    public Task<SnapshotReply> Snapshot(SnapshotRequest request) => Task.FromResult(_node.Snapshot(request));

    public Task Adopt(PartitionConfiguration configuration)
    {
        _node.Adopt(configuration);
        return Task.CompletedTask;
    }

    public Task<KeyPage> Keys(KeyPageRequest request) => Task.FromResult(KeyPages.Page(_node, request));
}
