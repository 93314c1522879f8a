using System.Collections.Immutable;

namespace Coordination;

/// <summary>How an acquire behaves when the lock is taken.</summary>
public enum AcquireMode
{
    /// <summary>Join the FIFO queue and wait (parked on the silo, never polling) up to <see cref="AcquireRequest.MaxWait"/>.</summary>
    Wait = 0,

    /// <summary>Take the lock only if it is free right now; never queue.</summary>
    IfAvailable = 1,
}

/// <summary>An acquire. The holder is (session, request id): retrying the same id is idempotent.</summary>
/// <param name="SessionId">The session that will hold the lock; its expiry releases it.</param>
/// <param name="RequestId">Made by the client, unique per acquire; a retry reuses it.</param>
/// <param name="Mode">Queue and wait, or take only if free.</param>
/// <param name="MaxWait">How long this call may stay parked on the silo (clamped to the silo's maximum, below the 30 s call timeout); the client calls again with the same id to keep its place.</param>
/// <param name="Owner">Optional metadata shown to holder queries (host, pid, purpose); at most 512 UTF-8 bytes.</param>
/// <param name="LockDelay">Chubby's lock-delay: if this holder's session expires while holding, the lock is not granted to anyone else for this long (restarted in full after a failover). Zero for none.</param>
/// <param name="Sequence">The request's number in its session: 1 for the session's first request (acquire or campaign), one more for each new one; a retry reuses it. Lets the cluster tell a late copy of an old request from a new one, however many came since.</param>
/// <param name="SettledThrough">The client's promise that every request of the session numbered up to this one is settled (answered for good, or withdrawn and acknowledged) or known to it as held or queued: a late copy of such a request is refused. Only grows; 0 for none.</param>
[GenerateSerializer, Immutable, Alias("coord.AcquireRequest")]
public sealed record AcquireRequest(string SessionId, Guid RequestId, AcquireMode Mode, TimeSpan MaxWait, string? Owner, TimeSpan LockDelay, long Sequence = 0, long SettledThrough = 0);

/// <summary>What an acquire found.</summary>
public enum AcquireStatus
{
    /// <summary>The caller holds the lock; a majority of replicas accepted the grant.</summary>
    Granted = 0,

    /// <summary>The caller is in the FIFO queue at <see cref="AcquireResult.QueuePosition"/>; call again with the same id to keep waiting.</summary>
    Queued = 1,

    /// <summary>Only for <see cref="AcquireMode.IfAvailable"/>: someone else holds it; nothing was queued.</summary>
    NotAvailable = 2,
}

/// <param name="Status">Granted, queued or not available.</param>
/// <param name="FencingToken">When granted: strictly greater than every earlier grant of this lock, across failovers and restarts. Pass it to the resources the lock protects.</param>
/// <param name="QueuePosition">When queued: how many requests are ahead (0 = next).</param>
[GenerateSerializer, Immutable, Alias("coord.AcquireResult")]
public sealed record AcquireResult(AcquireStatus Status, long FencingToken, int QueuePosition);

/// <summary>A release of the grant (session, request id) with the token it was given.</summary>
[GenerateSerializer, Immutable, Alias("coord.ReleaseRequest")]
public sealed record ReleaseRequest(string SessionId, Guid RequestId, long FencingToken);

/// <summary>What a release did. Repeating a release succeeds with <see cref="AlreadyReleased"/>.</summary>
public enum ReleaseOutcome
{
    Released = 0,
    AlreadyReleased = 1,
}

/// <summary>What a cancel did.</summary>
public enum CancelOutcome
{
    /// <summary>The request was waiting and has left the queue.</summary>
    Dequeued = 0,

    /// <summary>The request had been granted (a grant that raced the cancel) and the grant was undone.</summary>
    GrantUndone = 1,

    /// <summary>The lock knows no live request with this id (never arrived, or already finished); nothing changed.</summary>
    NotFound = 2,
}

/// <summary>The current holder of a lock.</summary>
/// <param name="SessionTag">The public tag of the holder's session (see <see cref="SessionIds.Tag"/>).</param>
[GenerateSerializer, Immutable, Alias("coord.LockHolder")]
public sealed record LockHolder(string SessionTag, Guid RequestId, long FencingToken, string? Owner);

/// <summary>A queued request, in FIFO order.</summary>
[GenerateSerializer, Immutable, Alias("coord.LockWaiter")]
public sealed record LockWaiter(string SessionTag, Guid RequestId, string? Owner);

/// <summary>A linearizable view of a lock: read through a majority accept that began after the query arrived.</summary>
[GenerateSerializer, Immutable, Alias("coord.LockInfo")]
public sealed record LockInfo(string Name, LockHolder? Holder, ImmutableArray<LockWaiter> Waiters, long LastFencingToken, bool LockDelayActive);

/// <summary>The result of an admin revoke: the grant taken away (if any) and the token bumped past it.</summary>
[GenerateSerializer, Immutable, Alias("coord.RevokeResult")]
public sealed record RevokeResult(LockHolder? Revoked, long LastFencingToken);
