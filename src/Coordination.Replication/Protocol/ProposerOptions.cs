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

    /// <summary>
    /// How long a round waits for the majority it asked first (this silo's replica and the fewest others a majority
    /// needs) before it asks the remaining members too; any reply but yes from one of them asks the rest at once.
    /// Null asks every member at once. Default 5 ms: a remote replica answers in well under a millisecond when the
    /// machine is idle and within a few under load, so the rest are asked only when a member is slow, paused or gone.
    /// Silos take it from <see cref="Hosting.ReplicationOptions.HedgeDelay"/> (0 there is null here).
    /// </summary>
    public TimeSpan? HedgeDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// How long a change that may wait (<see cref="IRegister{TValue}.ExecuteLaterAsync"/>) waits for another change to go
    /// with before it goes round alone. Default 2 ms: well above the time a holder's release takes to follow the grant it
    /// was answered with, well below anything a waiter would notice. Zero sends every change at once.
    /// </summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Upper bound of the random pause after losing to a higher ballot. Default 20 ms.</summary>
    public TimeSpan MaxConflictBackoff { get; init; } = TimeSpan.FromMilliseconds(20);
}
