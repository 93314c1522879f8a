namespace Coordination.Grains.Leases;

/// <summary>
/// The queue of one lock or election as the parts of its <see cref="LeaseQueue{TRecord}"/> see it
/// (<see cref="ParkedWaiters"/>, <see cref="SessionAttachments"/>, <see cref="LockDelayTimer"/>,
/// <see cref="GrantRevocation"/>): whatever the register value holds around the queue, they read and
/// change only the queue, one accept at a time through the grain's register proposer.
/// </summary>
internal interface ILeaseQueue
{
    /// <summary>The lock's or election's name.</summary>
    string Name { get; }

    /// <summary>The queue as this activation last committed it (empty before its first commit): a cache, never a decision.</summary>
    LockRecord CommittedQueue { get; }

    /// <summary>True when this activation ended the session here (see <see cref="SessionAttachments"/>).</summary>
    bool IsEndedHere(string sessionId);

    /// <summary>A read that commits (a majority accept of the unchanged value, begun after the call arrived).</summary>
    Task<LockRecord> ReadQueueAsync();

    /// <summary>Applies a change to the queue, and to the register value around it, in one accept; the change gets the token epoch.</summary>
    Task<T> ChangeQueueAsync<T>(Func<LockRecord, long, (LockRecord Queue, T Result)> change);
}
