namespace Coordination.Replication.Protocol;

/// <summary>Timing and batching of a register proposer. The unsafe switches exist only so tests can prove their checks catch them.</summary>
public sealed record ProposerOptions
{
    /// <summary>How long one prepare or accept round waits for a majority. Default 1 s.</summary>
    public TimeSpan RoundTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one batch may keep retrying (contention, configuration changes) before failing with <see cref="QuorumUnavailableException"/>. Default 5 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Most changes folded into one accept (group commit). Default 256.</summary>
    public int MaxBatch { get; init; } = 256;

    /// <summary>Upper bound of the random pause after losing to a higher ballot. Default 20 ms.</summary>
    public TimeSpan MaxConflictBackoff { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>BROKEN ON PURPOSE when true: after an accept misses its majority, the next accept reuses its ballot for a different value.</summary>
    internal bool UnsafeReuseBallot { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: after a rejected accept, retry with a higher ballot on the cached value without re-reading.</summary>
    internal bool UnsafeSkipReread { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: changes apply to this proposer's memory only, with no replica round (a lease-only lock, as a single Redis node gives).</summary>
    internal bool UnsafeLeaseOnly { get; init; }

    /// <summary>
    /// BROKEN ON PURPOSE when true: an accept counts as committed once one replica took it, so a change (a
    /// session's keepalive, in the control that uses it) is acknowledged without a majority accept.
    /// </summary>
    internal bool UnsafeAckAfterOneAccept { get; init; }
}
