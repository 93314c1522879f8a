namespace Coordination.Grains.Leases;

/// <summary>
/// Which acquires may linger (<see cref="Replication.Protocol.IRegister{TValue}.ExecuteLaterAsync"/>): go with the next
/// change of the register, typically the holder's release, instead of a replication round of their own. Only a new
/// request that would wait behind a holder anyway: its caller hears nothing sooner by a round of its own, and in a
/// contended handoff the release grants it in the same round.
/// </summary>
internal static class LingerGate
{
    /// <param name="seen">The queue as this activation last saw it committed; null when it has never been written.</param>
    /// <param name="known">The queue already has this request (a retry): it is answered at once, and it may be the holder.</param>
    /// <returns>
    /// False for a try-acquire (its caller wants an answer now, not a place in the queue), for a request the queue would
    /// grant (a free lock), for a retry, and for a register never written (the first request creates it).
    /// </returns>
    public static bool Lingers<TQueue>(AcquireMode mode, TimeSpan maxWait, TQueue? seen, bool known, LockRequest request)
        where TQueue : class, ILeaseState<TQueue> =>
        mode == AcquireMode.Wait && maxWait > TimeSpan.Zero && seen is not null && !known && !seen.Admits(request);
}
