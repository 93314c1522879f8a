using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;

namespace Coordination.Replication.Hosting;

/// <summary>
/// This silo's copy of the cluster metadata: proposers read partition configurations from it, and every
/// newer configuration it sees is handed to the local replica node to adopt.
/// </summary>
internal sealed class MetadataDirectory(IClusterMetadataStore store, ReplicaNode node, SiloLiveness liveness) : IPartitionDirectory
{
    private readonly Lock _gate = new();
    private ClusterMetadata? _current;
    private Task? _reload;

    public ClusterMetadata Current => Volatile.Read(ref _current) ?? throw new InvalidOperationException("The cluster metadata has not been loaded yet; the silo is still starting.");

    public bool IsLoaded => Volatile.Read(ref _current) is not null;

    public int PartitionCount => Current.PartitionCount;

    public PartitionConfiguration Get(int partition) => Current.Partitions[partition];

    public bool IsDead(ReplicaId replica) => liveness.IsDead(replica);

    public async Task<PartitionConfiguration> RefreshAsync(int partition, long seenEpoch, CancellationToken cancellationToken)
    {
        if (Get(partition).Epoch <= seenEpoch)
        {
            await ReloadAsync(cancellationToken);
        }

        return Get(partition);
    }

    /// <summary>Re-reads the store; concurrent callers share one read.</summary>
    public Task ReloadAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_reload is null || _reload.IsCompleted)
            {
                _reload = Task.Factory.StartNew(() => ReadAndPublishAsync(cancellationToken), cancellationToken, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default).Unwrap();
            }

            return _reload;
        }
    }

    /// <summary>Takes metadata this silo just wrote or read; older versions are ignored.</summary>
    public void Publish(ClusterMetadata metadata)
    {
        lock (_gate)
        {
            if (_current is not null && _current.Version >= metadata.Version)
            {
                return;
            }

            Volatile.Write(ref _current, metadata);
        }

        foreach (var config in metadata.Partitions)
        {
            if (config.IsAssigned)
            {
                node.Adopt(config);
            }
        }
    }

    private async Task ReadAndPublishAsync(CancellationToken cancellationToken)
    {
        var metadata = await store.ReadAsync(cancellationToken);
        if (metadata is not null)
        {
            Publish(metadata);
        }
    }
}
