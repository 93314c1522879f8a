namespace Coordination.Replication.Configuration;

/// <summary>
/// Metadata held in one process: for in-process test clusters and simulations, where every silo shares
/// the same instance. It is lost with the process, like the replicas themselves.
/// </summary>
public sealed class InMemoryClusterMetadataStore : IClusterMetadataStore
{
    private readonly Lock _gate = new();
    private ClusterMetadata? _current;

    /// <summary>Raised after every successful write, outside the store's lock.</summary>
    public event Action<ClusterMetadata>? Written;

    public Task<ClusterMetadata?> ReadAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_current);
        }
    }

    public Task<bool> TryWriteAsync(long expectedVersion, ClusterMetadata next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(next);
        lock (_gate)
        {
            var stored = _current?.Version ?? 0;
            if (stored != expectedVersion)
            {
                return Task.FromResult(false);
            }

            if (next.Version <= expectedVersion)
            {
                throw new ArgumentException($"A write must raise the version (stored {expectedVersion}, new {next.Version}).", nameof(next));
            }

            _current = next;
        }

        Written?.Invoke(next);
        return Task.FromResult(true);
    }
}
