namespace Coordination.Grains.Leases;

/// <summary>
/// The queue of one lock, election, semaphore or reader-writer lock as the parts of its
/// <see cref="LeaseQueue{TRecord, TQueue}"/> see it (<see cref="ParkedWaiters{TQueue}"/>,
/// <see cref="SessionAttachments{TQueue}"/>, <see cref="LockDelayTimer{TQueue}"/>, <see cref="GrantRevocation"/>):
/// whatever the register value holds around the queue, they read and change only the queue, one accept at a
/// time through the grain's register proposer.
/// </summary>
/// <typeparam name="TQueue">The queue state: one holder (<see cref="LockRecord"/>) or many (<see cref="SharedLockRecord"/>).</typeparam>
internal interface ILeaseQueue<TQueue> where TQueue : class, ILeaseState<TQueue>
{
    /// <summary>The lock's or election's name.</summary>
    string Name { get; }

    /// <summary>The queue as this activation last committed it (empty before its first commit): a cache, never a decision.</summary>
    TQueue CommittedQueue { get; }

    /// <summary>True when this activation ended the session here (see <see cref="SessionAttachments{TQueue}"/>).</summary>
    bool IsEndedHere(string sessionId);

    /// <summary>A read that commits (a majority accept of the unchanged value, begun after the call arrived).</summary>
    Task<TQueue> ReadQueueAsync();

    /// <summary>Applies a change to the queue, and to the register value around it, in one accept; the change gets the token epoch.</summary>
    Task<T> ChangeQueueAsync<T>(Func<TQueue, long, (TQueue Queue, T Result)> change);
}
