using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>Where proposers learn the committed configuration of a partition, and which replicas are known dead.</summary>
internal interface IPartitionDirectory
{
    /// <summary>How many partitions the cluster's keys are spread over (fixed for the cluster's life).</summary>
    int PartitionCount { get; }

    /// <summary>The newest committed configuration this silo knows.</summary>
    PartitionConfiguration Get(int partition);

    /// <summary>Re-reads the configuration master if the known configuration is not newer than <paramref name="seenEpoch"/>.</summary>
    Task<PartitionConfiguration> RefreshAsync(int partition, long seenEpoch, CancellationToken cancellationToken);

    /// <summary>True when the replica's silo has been declared dead and will never answer again.</summary>
    bool IsDead(ReplicaId replica);
}
