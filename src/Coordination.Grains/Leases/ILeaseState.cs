using System.Collections.Immutable;

namespace Coordination.Grains.Leases;

/// <summary>
/// The queue state of one kind of lease, as the parts of a <see cref="LeaseQueue{TRecord, TQueue}"/> read and change
/// it: grants held for (session, request) pairs, FIFO waiters, requests finished while their sessions still list
/// them, a pending delay. The exclusive lock and the election have one holder (<see cref="LockRecord"/>); the
/// semaphore and the reader-writer lock have many (<see cref="SharedLockRecord"/>). Transitions are pure and
/// static, so every part drives every kind through the same rules of sessions, finishing and fencing.
/// </summary>
/// <typeparam name="TSelf">The state type itself.</typeparam>
internal interface ILeaseState<TSelf> where TSelf : class, ILeaseState<TSelf>
{
    /// <summary>The state of a queue whose register holds nothing.</summary>
    static abstract TSelf Empty { get; }

    ImmutableList<FinishedRequest> Finished { get; }

    PendingDelay? Delay { get; }

    /// <summary>Sessions' covers here (<see cref="SessionCovers"/>).</summary>
    ImmutableList<SessionCover> Covers { get; }

    /// <summary>Nobody holds it, waits for it, or waits out its delay.</summary>
    bool IsIdle { get; }

    /// <summary>How many grants are held now.</summary>
    int HolderCount { get; }

    int WaiterCount { get; }

    /// <summary>Every request held or queued, holders first: what the queue holds for sessions.</summary>
    IEnumerable<LockRequest> Requests();

    /// <summary>The FIFO queue of waiting requests.</summary>
    ImmutableList<LockRequest> Waiters { get; }

    /// <summary>Grant <paramref name="index"/> of the <see cref="HolderCount"/> held now (see <see cref="QueuedRequests{TQueue}"/>).</summary>
    LockGrant HolderAt(int index);

    /// <summary>The grant (session, request) holds, if it holds one.</summary>
    LockGrant? GrantOf(string sessionId, Guid requestId);

    /// <summary>True when a new <paramref name="request"/> would be granted at once.</summary>
    bool Admits(LockRequest request);

    /// <summary>The place of (session, request) in the queue, or -1 if it is not queued.</summary>
    int PositionOf(string sessionId, Guid requestId);

    static abstract (TSelf Next, AcquireDecision Decision) Acquire(TSelf? current, LockRequest request, AcquireMode mode, long tokenEpoch);

    /// <summary>Throws <see cref="QueueFullException"/> if <paramref name="request"/> cannot be queued on <paramref name="current"/>.</summary>
    static abstract void EnsureRoom(TSelf current, LockRequest request, string name);

    static abstract (TSelf Next, ReleaseOutcome Outcome) Release(TSelf? current, string name, string sessionId, Guid requestId, long token, long tokenEpoch);

    static abstract (TSelf Next, CancelOutcome Outcome) Cancel(TSelf? current, string sessionId, Guid requestId, long tokenEpoch, long sequence);

    static abstract (TSelf Next, bool Changed) SessionEnded(TSelf? current, string sessionId, SessionEnd how, long tokenEpoch);

    static abstract TSelf EndLockDelay(TSelf? current, long afterToken, long tokenEpoch);

    static abstract TSelf LetGo(TSelf? current, string sessionId, Guid requestId);

    static abstract TSelf WithCovers(TSelf current, ImmutableList<SessionCover> covers);
}
