using Coordination.Grains.Sessions;

namespace Coordination.Grains.Hosting;

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.ILockGrainInternal")]
internal interface ILockGrainInternal : IGrainWithStringKey
{
    /// <summary>The session ended (expired or closed): drop its grant and queue entries, hand the lock on.</summary>
    [Alias("session-ended")]
    Task OnSessionEnded(string sessionId, SessionStatus how);

    /// <summary>As <see cref="ILockGrain.GetInfo"/>, with what is left of the holder's session lease (for operator listings).</summary>
    [Alias("info-with-lease")]
    Task<WithLease<LockInfo>> GetInfoWithLease();

    /// <summary>Activate and re-read the lock after a failover (restarts a pending lock-delay in full).</summary>
    [Alias("recover")]
    Task Recover();
}

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.IElectionGrainInternal")]
internal interface IElectionGrainInternal : IGrainWithStringKey
{
    /// <summary>The session ended: drop its candidacy or leadership, elect the next candidate.</summary>
    [Alias("session-ended")]
    Task OnSessionEnded(string sessionId, SessionStatus how);

    /// <summary>Activate and re-read the election after a failover.</summary>
    [Alias("recover")]
    Task Recover();

    /// <summary>As <see cref="IElectionGrain.GetState"/>, with what is left of the leader's session lease (for operator listings).</summary>
    [Alias("state-with-lease")]
    Task<WithLease<ElectionState>> GetStateWithLease();
}

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.ISemaphoreGrainInternal")]
internal interface ISemaphoreGrainInternal : IGrainWithStringKey
{
    /// <summary>The session ended: give its permits back, drop its waiters, grant on.</summary>
    [Alias("session-ended")]
    Task OnSessionEnded(string sessionId, SessionStatus how);

    /// <summary>Activate and re-read the semaphore after a failover.</summary>
    [Alias("recover")]
    Task Recover();

    /// <summary>As <c>GetInfo</c>, with what is left of each holder's session lease (for operator listings).</summary>
    [Alias("info-with-leases")]
    Task<WithLeases<SharedLockInfo>> GetInfoWithLeases();
}

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.IReaderWriterLockGrainInternal")]
internal interface IReaderWriterLockGrainInternal : IGrainWithStringKey
{
    /// <summary>The session ended: drop its grants and waiters, grant on.</summary>
    [Alias("session-ended")]
    Task OnSessionEnded(string sessionId, SessionStatus how);

    /// <summary>Activate and re-read the lock after a failover.</summary>
    [Alias("recover")]
    Task Recover();

    /// <summary>As <c>GetInfo</c>, with what is left of each holder's session lease (for operator listings).</summary>
    [Alias("info-with-leases")]
    Task<WithLeases<SharedLockInfo>> GetInfoWithLeases();
}

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.ISessionGrainInternal")]
internal interface ISessionGrainInternal : IGrainWithStringKey
{
    [Alias("open")]
    Task<SessionInfo> Open(TimeSpan ttl, string? owner = null);

    /// <summary>
    /// Records that request number <paramref name="sequence"/> of the session holds or waits at
    /// <paramref name="holding"/>, after a majority accept, and returns the session's TTL. Fails with a typed
    /// error if the session is not alive, if that request is already over (<see cref="RequestFinishedException"/>),
    /// or if the session holds as much as it keeps. A lock or election commits a request only after this
    /// (see <see cref="Leases.SessionAttachments{TQueue}"/>).
    /// </summary>
    /// <param name="finished">Requests of this session at the same holding that are over there: let go in the same
    /// round, as <see cref="Detach"/> would (a lock used again by its session pays one round for both).</param>
    [Alias("attach")]
    Task<TimeSpan> Attach(Holding holding, long sequence, long settledThrough, long[]? finished = null);

    /// <summary>
    /// As <see cref="Attach"/>, for a request that will cover its holding (see <see cref="Leases.SessionCovers"/>):
    /// also returns the highest request number the shard knows attached or settled, below which the holding must
    /// leave late copies to the session.
    /// </summary>
    [Alias("attach-cover")]
    Task<CoverAttach> AttachCover(Holding holding, long sequence, long settledThrough, long[]? finished = null);

    /// <summary>
    /// A cover at <paramref name="holding"/> is retiring: lets its request go as <see cref="Detach"/> would and raises
    /// the shard's settled-through mark to <paramref name="settledThrough"/> (the client's mark as the holding heard
    /// it), so the requests the holding let go without the session refuse their late copies here. Idempotent.
    /// </summary>
    [Alias("settle-cover")]
    Task SettleCover(Holding holding, long sequence, long settledThrough);

    /// <summary>The request is over at <paramref name="holding"/>: let it go (and refuse it if it comes again). Idempotent.</summary>
    [Alias("detach")]
    Task Detach(Holding holding, long sequence);

    /// <summary>
    /// Many requests are over at their holdings: lets each go as <see cref="Detach"/> would, one round per shard they
    /// fall in, the shards in parallel. Returns those whose shard could not change (no majority): they are not let go.
    /// </summary>
    [Alias("detach-many")]
    Task<Attachment[]> DetachMany(Attachment[] attachments);

    /// <summary>Whether the request is attached, read through a majority; typed errors once the session has ended or is gone.</summary>
    [Alias("is-attached")]
    Task<bool> IsAttached(Holding holding, long sequence);

    /// <summary>Records that a grant of this session was revoked, for the owner's next keepalive; refused (<see cref="RevokeRefusedException"/>) while too many are unacknowledged.</summary>
    [Alias("notify-revoked")]
    Task NotifyRevoked(string lockName, Guid requestId, long token, string reason);

    /// <summary>
    /// An operator's revoke (<see cref="SessionStateMachine.Revoke"/>): keepalives and new attachments are refused from
    /// now on, so the lease runs out and the session expires, releasing what it holds. Idempotent; an ended session is left as it is.
    /// </summary>
    [Alias("revoke")]
    Task<SessionRevokeResult> Revoke(string reason);

    /// <summary>Activate and re-read the session after a failover (restarts its lease in full).</summary>
    [Alias("recover")]
    Task Recover();

    /// <summary>How long this activation's lease runs at least without another keepalive; null before it has timed one. Reads nothing.</summary>
    [Alias("lease-remaining")]
    Task<TimeSpan?> LeaseRemaining();
}

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.IClusterListingGrainInternal")]
internal interface IClusterListingGrainInternal : IGrainWithIntegerKey
{
    /// <summary>
    /// Revokes the session whose public tag is <paramref name="tag"/> (lowercase hex), found through a majority of every
    /// partition's replicas (<see cref="ISessionGrainInternal.Revoke"/>). Never answers with a session id: a tag is public,
    /// the id is the session's secret. <see cref="SessionNotFoundException"/> (naming the tag) when no session has it.
    /// </summary>
    [Alias("revoke-session-tagged")]
    Task<SessionRevokeResult> RevokeSessionTagged(string tag, string reason);
}

/// <summary>Calls between coordination grains; not for applications.</summary>
[Alias("coord.ILatchGrainInternal")]
internal interface ILatchGrainInternal : IGrainWithStringKey
{
    /// <summary>The latch read through a majority, without a count to check it against (for operator listings); null when the cluster keeps none of that name.</summary>
    [Alias("state")]
    Task<LatchState?> GetState();
}
