using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Runtime.Services;

namespace Coordination.Replication.Hosting;

/// <summary>
/// Decides whether replica traffic between two silos gets through. Registered only by fault-injection
/// tests (partitions, paused silos); without one, all traffic flows.
/// </summary>
public interface IReplicaTrafficFilter
{
    bool Allows(ReplicaId from, ReplicaId to);
}

/// <summary>
/// Routes replica messages to the grain service of the target silo; calls to this silo's own replica skip the
/// network. Requests to another silo travel in batches (<see cref="OutboundBatches"/>): one message per silo
/// while the previous one is on its way, and background requests ride with them. With
/// <see cref="ReplicationOptions.DirectTransport"/> the batches travel on a direct connection
/// (<see cref="DirectReplicaLinks"/>) once the target silo has said where it listens; snapshots, configurations and
/// key pages always go through Orleans.
/// </summary>
internal sealed class OrleansReplicaTransport : GrainServiceClient<IReplicaService>, IReplicaTransport, IDisposable
{
    private readonly Lazy<ReplicaNode> _local;
    private readonly ReplicaId _self;
    private readonly IReplicaTrafficFilter? _filter;
    private readonly OutboundBatches _batches;
    private readonly DirectReplicaLinks? _direct;
    private readonly Func<ReplicaId, Task<int>> _askDirectPort;

    public OrleansReplicaTransport(
        IServiceProvider services,
        ILocalSiloDetails silo,
        Lazy<ReplicaNode> local,
        TimeProvider time,
        IOptions<ReplicationOptions> options,
        IOptions<SiloMessagingOptions> messaging,
        Serializer serializer,
        ILoggerFactory loggers,
        IReplicaTrafficFilter? filter = null)
        : base(services)
    {
        _self = silo.SiloAddress.ToReplicaId();
        _local = local;
        _filter = filter;
        _batches = new OutboundBatches(SendBatchAsync, time, options.Value.RoundTimeout, OutboundBatches.DefaultLinger);
        _direct = options.Value.DirectTransport ? new DirectReplicaLinks(_self, serializer, time, messaging.Value.ResponseTimeout, options.Value.Tls, loggers.CreateLogger<DirectReplicaLinks>()) : null;
        _askDirectPort = target => Remote(target).DirectPort();
    }

    /// <summary>Batches answered on direct connections, for tests.</summary>
    internal long DirectReplies => _direct?.Replies ?? 0;

    public ReplicaId? Self => _self;

    public Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request, CancellationToken cancellationToken) => Route(target, request, later: false);

    public Task<ReplicaReply> SendLaterAsync(ReplicaId target, ReplicaRequest request) => Route(target, request, later: true);

    public Task<SnapshotReply> SnapshotAsync(ReplicaId target, SnapshotRequest request, CancellationToken cancellationToken)
    {
        Check(target);
        return target == _self ? Task.FromResult(_local.Value.Snapshot(request)) : Remote(target).Snapshot(request);
    }

    public Task AdoptAsync(ReplicaId target, PartitionConfiguration configuration, CancellationToken cancellationToken)
    {
        Check(target);
        if (target == _self)
        {
            _local.Value.Adopt(configuration);
            return Task.CompletedTask;
        }

        return Remote(target).Adopt(configuration);
    }

    /// <summary>A page of a replica's keys, for operator listings (not part of the protocol, so not on <see cref="IReplicaTransport"/>).</summary>
    public Task<KeyPage> KeysAsync(ReplicaId target, KeyPageRequest request)
    {
        Check(target);
        return target == _self ? Task.FromResult(KeyPages.Page(_local.Value, request)) : Remote(target).Keys(request);
    }

    private Task<ReplicaReply[]> SendBatchAsync(ReplicaId target, ReplicaRequest[] requests)
    {
        // Traffic blocked meanwhile (fault injection) loses the whole batch, as it would each message.
        Check(target);
        if (_direct?.TrySend(target, requests, _askDirectPort) is { } direct)
        {
            return direct;
        }

        // A pump may call this on a grain's thread: the grain call is made from the thread pool, outside that grain.
        return Task.Run(() => requests.Length == 1
            ? HandleOneAsync(Remote(target), requests[0])
            : Remote(target).HandleBatch(requests));
    }

    private Task<ReplicaReply> Route(ReplicaId target, ReplicaRequest request, bool later)
    {
        Check(target);
        if (target == _self)
        {
            return Task.FromResult(_local.Value.Handle(request));
        }

        return later ? _batches.SendLaterAsync(target, request) : _batches.SendAsync(target, request);
    }

    private static async Task<ReplicaReply[]> HandleOneAsync(IReplicaService replica, ReplicaRequest request) => [await replica.Handle(request)];

    public void Dispose() => _direct?.Dispose();

    private IReplicaService Remote(ReplicaId target) => GetGrainService(SiloAddress.FromParsableString(target.Value));

    private void Check(ReplicaId target)
    {
        if (_filter is not null && (!_filter.Allows(_self, target) || !_filter.Allows(target, _self)))
        {
            throw new SiloUnavailableException($"Replica traffic between {_self} and {target} is blocked by fault injection.");
        }
    }
}

internal static class ReplicaIdExtensions
{
    public static ReplicaId ToReplicaId(this SiloAddress silo) => new(silo.ToParsableString());
}
