namespace Coordination;

/// <summary>
/// An exclusive, fenced, FIFO-fair lock. Every reply that states the lock's state follows a majority
/// accept of its register that began after the request arrived.
/// </summary>
[Alias("coord.ILockGrain")]
public interface ILockGrain : IGrainWithStringKey
{
    /// <summary>Acquires (or keeps waiting for) the lock for (session, request id). Idempotent per request id.</summary>
    [Alias("acquire")]
    Task<AcquireResult> Acquire(AcquireRequest request);

    /// <summary>Withdraws the request: leaves the queue, or undoes a grant that raced the cancel. Idempotent.</summary>
    /// <param name="sequence">The request's number in its session (<see cref="AcquireRequest.Sequence"/>), so the session lets it go too.</param>
    [Alias("cancel")]
    Task<CancelOutcome> Cancel(string sessionId, Guid requestId, long sequence = 0);

    /// <summary>Releases the grant. Repeating succeeds; a release by anyone else throws <see cref="LockNotHeldException"/>.</summary>
    [Alias("release")]
    Task<ReleaseOutcome> Release(ReleaseRequest request);

    /// <summary>The holder, its token and the waiters, read linearizably.</summary>
    [Alias("info")]
    Task<LockInfo> GetInfo();

    /// <summary>Admin: takes the lock away from its holder, bumps the fencing token and tells the holder's session.</summary>
    [Alias("revoke")]
    Task<RevokeResult> Revoke(string reason);
}

/// <summary>A lease with a TTL, kept alive by its owner; its end releases everything it holds.</summary>
[Alias("coord.ISessionGrain")]
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Extends the lease; acknowledged only after a majority of replicas accepted it.</summary>
    /// <param name="acknowledgedNotice">The highest notice sequence the client has processed (0 for none).</param>
    /// <param name="settledThrough">As <see cref="AcquireRequest.SettledThrough"/>: every request of the session numbered up to this one is settled or known held or queued.</param>
    [Alias("keepalive")]
    Task<KeepAliveResult> KeepAlive(long acknowledgedNotice, long settledThrough = 0);

    /// <summary>Ends the session at once and releases everything it holds (a revoked session's close ends it as expired: its holders' lock-delay applies). Idempotent.</summary>
    [Alias("close")]
    Task<SessionInfo> Close();

    /// <summary>The session's status, read linearizably.</summary>
    [Alias("info")]
    Task<SessionInfo> GetInfo();
}

/// <summary>Opens sessions with unguessable ids chosen on the silo.</summary>
[Alias("coord.ISessionManagerGrain")]
public interface ISessionManagerGrain : IGrainWithIntegerKey
{
    /// <summary>Opens a session with this TTL (validated against the cluster's bounds), naming its owner for operators (optional, the same rules as a lock name).</summary>
    [Alias("open")]
    Task<SessionInfo> Open(TimeSpan ttl, string? owner = null);
}

/// <summary>Operator actions on the replicated state. Every change is written to the audit trail.</summary>
[Alias("coord.IClusterAdminGrain")]
public interface IClusterAdminGrain : IGrainWithIntegerKey
{
    /// <summary>The replica configurations, cluster epoch and audit trail.</summary>
    [Alias("view")]
    Task<ClusterView> GetView();

    /// <summary>
    /// Re-initialises partitions whose replicas lost their majority: they come back empty on live silos,
    /// and the cluster epoch is bumped so every later fencing token exceeds every earlier one. Audited.
    /// An empty list means every partition that has lost its majority.
    /// </summary>
    [Alias("reinit")]
    Task<ClusterView> Reinitialize(int[] partitions, string reason, string operatorName);

    /// <summary>Takes a lock away from its holder (as <see cref="ILockGrain.Revoke"/>) and writes who did it and why to the audit trail.</summary>
    [Alias("revoke-lock")]
    Task<RevokeResult> RevokeLock(string name, string reason, string operatorName);

    /// <summary>Takes an election's leadership away (as <see cref="IElectionGrain.Revoke"/>) and writes who did it and why to the audit trail.</summary>
    [Alias("revoke-leadership")]
    Task<RevokeResult> RevokeLeadership(string election, string reason, string operatorName);

    /// <summary>
    /// Revokes the session whose public tag is <paramref name="sessionTag"/> (etcd's <c>lease revoke</c>, Consul's session
    /// destroy, made safe): its keepalives and new acquires are refused from now on, so its client hears at its next
    /// keepalive or acquire (its lost signals fire) and closes it, which ends it as expired (its holders' lock-delay
    /// applies); a client that never hears keeps it until its lease runs out, never less. Written to the audit trail.
    /// <see cref="SessionNotFoundException"/> when no session has the tag.
    /// </summary>
    [Alias("revoke-session")]
    Task<SessionRevokeResult> RevokeSession(string sessionTag, string reason, string operatorName);

    /// <summary>Takes every permit of a semaphore away (as <see cref="ISemaphoreGrain.Revoke"/>) and writes who did it and why to the audit trail.</summary>
    [Alias("revoke-semaphore")]
    Task<SharedRevokeResult> RevokeSemaphore(string name, string reason, string operatorName);

    /// <summary>Takes a reader-writer lock away from every reader and writer (as <see cref="IReaderWriterLockGrain.Revoke"/>) and writes who did it and why to the audit trail.</summary>
    [Alias("revoke-reader-writer")]
    Task<SharedRevokeResult> RevokeReaderWriterLock(string name, string reason, string operatorName);
}
