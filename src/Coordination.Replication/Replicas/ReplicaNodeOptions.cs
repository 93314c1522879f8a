namespace Coordination.Replication.Replicas;

/// <summary>Knobs of a replica node's recovery.</summary>
internal sealed record ReplicaNodeOptions
{
    /// <summary>First pause between recovery attempts; doubles up to <see cref="MaxRecoveryBackoff"/>.</summary>
    public TimeSpan RecoveryBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan MaxRecoveryBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one page of a recovery copy may take (a page is at most a few hundred registers, whatever the partition's size).</summary>
    public TimeSpan SnapshotTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
