namespace Coordination.Replication.Configuration;

/// <summary>
/// A linearizable home for <see cref="ClusterMetadata"/> with compare-and-swap on its version. It is the
/// configuration master of the replica groups: a configuration is agreed when its write succeeds here.
/// Implementations: in memory (one process), a locked file (one machine), Redis (several machines).
/// </summary>
public interface IClusterMetadataStore
{
    /// <summary>The current metadata, or null when the cluster has never been initialised.</summary>
    Task<ClusterMetadata?> ReadAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes <paramref name="next"/> if the stored version is still <paramref name="expectedVersion"/>
    /// (0 = nothing stored yet). Returns false, changing nothing, if someone else wrote first.
    /// </summary>
    Task<bool> TryWriteAsync(long expectedVersion, ClusterMetadata next, CancellationToken cancellationToken = default);
}
