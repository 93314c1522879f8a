namespace Coordination.Replication.Protocol;

/// <summary>Timing and batching of a register proposer.</summary>
internal sealed record ProposerOptions
{
    /// <summary>How long one prepare or accept round waits for a majority. Default 1 s.</summary>
    public TimeSpan RoundTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one batch may keep retrying (contention, configuration changes) before failing with <see cref="QuorumUnavailableException"/>. Default 5 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Most changes folded into one accept (group commit). Default 256.</summary>
    public int MaxBatch { get; init; } = 256;

    /// <summary>Upper bound of the random pause after losing to a higher ballot. Default 20 ms.</summary>
    public TimeSpan MaxConflictBackoff { get; init; } = TimeSpan.FromMilliseconds(20);
}
