using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Tests;

/// <summary>A partition directory that hands every partition the same configuration, which never changes.</summary>
internal sealed class FixedDirectory(PartitionConfiguration configuration, int partitionCount = 1) : IPartitionDirectory
{
    public int PartitionCount => partitionCount;

    public PartitionConfiguration Get(int partition) => configuration;

    public Task<PartitionConfiguration> RefreshAsync(int partition, long seenEpoch, CancellationToken cancellationToken) => Task.FromResult(configuration);

    public bool IsDead(ReplicaId replica) => false;
}
