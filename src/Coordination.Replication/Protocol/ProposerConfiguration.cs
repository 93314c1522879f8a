using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// The partition configuration one proposer works under. Each prepare starts from the directory's copy
/// unless the proposer already knows a newer one (a failed round's refresh found it), so a directory that
/// is behind never takes the proposer back to an older epoch. Replies are judged against it when they
/// arrive, which may be after a refresh replaced it.
/// </summary>
internal sealed class ProposerConfiguration(IPartitionDirectory directory, int partition)
{
    /// <summary>The configuration of the current prepare and of the accepts under it; null before the first prepare.</summary>
    public PartitionConfiguration? Current { get; private set; }

    /// <summary>Before a prepare: the newer of the directory's copy and <see cref="Current"/>, which it becomes.</summary>
    public PartitionConfiguration Reload()
    {
        var config = directory.Get(partition);
        if (Current is not null && Current.Epoch > config.Epoch)
        {
            config = Current;
        }

        Current = config;
        return config;
    }

    /// <summary>A newer configuration than <see cref="Current"/>, found by re-reading the configuration master.</summary>
    public void Adopt(PartitionConfiguration newer) => Current = newer;
}
