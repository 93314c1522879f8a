using System.Collections.Immutable;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Leases;

/// <summary>The current grant of a lock (or the current leader of an election).</summary>
/// <param name="SessionTtl">The holder's session TTL, so the lock can wait out a whole lease if the session's own state is lost.</param>
/// <param name="Payload">What the holder publishes with its grant: an election leader's proclaimed value; unused by locks.</param>
/// <param name="Sequence">The request's number in its session (see <see cref="SessionAttachments{TQueue}"/>).</param>
/// <param name="Access">How it holds: alone, or beside others (a semaphore's permit, a reader).</param>
/// <param name="Cover">The number of the session's cover it rides on (<see cref="SessionCovers"/>); 0 when it is attached itself.</param>
[GenerateSerializer, Immutable, Alias("coord.LockGrant")]
internal sealed record LockGrant(string SessionId, Guid RequestId, long Token, string? Owner, TimeSpan LockDelay, TimeSpan SessionTtl, string? Payload = null, long Sequence = 0, LeaseAccess Access = LeaseAccess.Exclusive, long Cover = 0)
{
    /// <summary>The grant as clients see it (the session by its tag, never its id).</summary>
    public LockHolder ToHolder() => new(SessionIds.Tag(SessionId), RequestId, Token, Owner);

    /// <summary>The request this grant was made for.</summary>
    public LockRequest ToRequest() => new(SessionId, RequestId, Owner, LockDelay, SessionTtl, Payload, Sequence, Access, Cover);

    /// <summary>How it ends here, remembered until its session (or, when carried, its cover) lets it go.</summary>
    public FinishedRequest ToFinished(RequestEnd end) => new(SessionId, RequestId, Token, end, Sequence, Cover > 0);
}

/// <summary>A queued acquire (or campaign).</summary>
/// <param name="Payload">What it will publish once granted (an election candidate's value); unused by locks.</param>
/// <param name="Sequence">The request's number in its session (see <see cref="SessionAttachments{TQueue}"/>).</param>
/// <param name="Access">How it asks to hold: alone, or beside others.</param>
/// <param name="Cover">The number of the session's cover it rides on (<see cref="SessionCovers"/>); 0 when it is attached itself.</param>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.LockRequest")]
internal sealed record LockRequest(string SessionId, Guid RequestId, string? Owner, TimeSpan LockDelay, TimeSpan SessionTtl, string? Payload = null, long Sequence = 0, LeaseAccess Access = LeaseAccess.Exclusive, long Cover = 0)
{
    /// <summary>The grant this request becomes.</summary>
    public LockGrant ToGrant(long token) => new(SessionId, RequestId, token, Owner, LockDelay, SessionTtl, Payload, Sequence, Access, Cover);

    /// <summary>How it ends here, remembered until its session (or, when carried, its cover) lets it go.</summary>
    public FinishedRequest ToFinished(long token, RequestEnd end) => new(SessionId, RequestId, token, end, Sequence, Cover > 0);

    /// <summary>The queued request as clients see it (the session by its tag, never its id).</summary>
    public LockWaiter ToWaiter() => new(SessionIds.Tag(SessionId), RequestId, Owner);
}

/// <summary>How a grant holds its lease. Locks and elections hold only <see cref="Exclusive"/>.</summary>
internal enum LeaseAccess
{
    /// <summary>Alone: a lock's holder, an election's leader, a reader-writer lock's writer.</summary>
    Exclusive = 0,

    /// <summary>Beside other shared holders: a semaphore's permit, a reader.</summary>
    Shared = 1,

    /// <summary>A reader that may upgrade to writer; at most one at a time.</summary>
    Upgradeable = 2,
}

/// <summary>How a request ended. Kept until its session has let go of it, so retries and repeated releases are idempotent.</summary>
internal enum RequestEnd
{
    Released = 0,
    Cancelled = 1,
    SessionEnded = 2,
    Revoked = 3,
}

/// <summary>How a session ended, as far as a lock can tell.</summary>
internal enum SessionEnd
{
    /// <summary>Closed by its owner: everything is released at once.</summary>
    Closed = 0,

    /// <summary>Its lease ran out: a holder's lock-delay applies.</summary>
    Expired = 1,

    /// <summary>Its state is gone (its partition was re-initialised): the owner may still believe in its lease, so the lock waits a whole TTL.</summary>
    Vanished = 2,
}

/// <summary>
/// A request that ended here while its session still lists it (see <see cref="SessionAttachments{TQueue}"/>): kept
/// until the session has let it go, so a late copy of it is refused here until the session refuses it.
/// </summary>
/// <param name="Sequence">The request's number in its session, by which the session lets it go (0: never attached).</param>
/// <param name="Covered">It rode on its session's cover (<see cref="SessionCovers"/>): never attached itself.</param>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.FinishedRequest")]
internal sealed record FinishedRequest(string SessionId, Guid RequestId, long Token, RequestEnd End, long Sequence = 0, bool Covered = false);

/// <summary>A wait before the lock may be granted again, for the grant with token <paramref name="AfterToken"/>. A duration, never a wall-clock time: each activation restarts it in full.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.PendingDelay")]
internal sealed record PendingDelay(TimeSpan Duration, long AfterToken);

/// <summary>
/// The replicated state of one exclusive lock (also the queue inside an election): the last token handed
/// out, the holder, the FIFO queue (kept in the register so fairness survives failover), the requests that
/// finished while their sessions still list them, and a pending lock-delay. A lock with none of these is
/// deleted (<see cref="IsEmpty"/>); its last token lives on in its partition's token floor.
/// </summary>
/// <param name="ForgottenBelow">Finished requests with tokens up to this one may have been forgotten: a release quoting such a token is a harmless repeat.</param>
/// <param name="SessionCovers">Sessions' covers here (<see cref="Leases.SessionCovers"/>); null for none.</param>
// Tracked by reference (unlike its parts): records share LockRecord.Empty, and a silo of an earlier version writes a
// second occurrence in one message as a reference, which only a reader that tracks the type resolves (WireCompatibilityTests).
[GenerateSerializer, Immutable, Alias("coord.LockRecord")]
internal sealed record LockRecord(
    long LastToken,
    LockGrant? Holder,
    ImmutableList<LockRequest> Waiters,
    ImmutableList<FinishedRequest> Finished,
    PendingDelay? Delay,
    long ForgottenBelow,
    ImmutableList<SessionCover>? SessionCovers = null) : IRegisterValue, ILeaseState<LockRecord>
{
    public static readonly LockRecord Empty = new(0, null, [], [], null, 0);

    /// <summary>
    /// The state of a lock whose register does not exist (never used, or deleted): free, counting its tokens
    /// from the partition's token floor, so a name used again never issues a token it issued before, and a
    /// release that quotes a token at or below the floor is a harmless repeat.
    /// </summary>
    public static LockRecord Fresh(long tokenFloor) => tokenFloor == 0 ? Empty : Empty with { LastToken = tokenFloor, ForgottenBelow = tokenFloor };

    /// <summary>Nobody holds it, waits for it, or waits out its lock-delay.</summary>
    public bool IsIdle => Holder is null && Waiters.IsEmpty && Delay is null;

    /// <summary>Idle and with nothing left to remember: the register can be deleted.</summary>
    public bool IsEmpty => IsIdle && Finished.IsEmpty && Covers.IsEmpty;

    public ImmutableList<SessionCover> Covers => SessionCovers ?? [];

    long IRegisterValue.Floor => LastToken;

    int IRegisterValue.EstimatedBytes =>
        64 + (Holder is null ? 0 : 96 + (Holder.Owner?.Length ?? 0) + (Holder.Payload?.Length ?? 0))
        + Waiters.Sum(w => 96 + (w.Owner?.Length ?? 0) + (w.Payload?.Length ?? 0))
        + (Finished.Count * 64) + (Covers.Count * 96);

    /// <summary>The finished requests and the mark below which forgotten ones lie.</summary>
    public FinishedLog Log => new(Finished, ForgottenBelow);

    public LockRecord With(FinishedLog log) => this with { Finished = log.Finished, ForgottenBelow = log.ForgottenBelow };

    /// <summary>The holder and the waiters, holder first: every request this lock holds for a session.</summary>
    public IEnumerable<LockRequest> Requests() =>
        Holder is { } h ? Waiters.Prepend(h.ToRequest()) : Waiters;

    static LockRecord ILeaseState<LockRecord>.Empty => Empty;

    int ILeaseState<LockRecord>.HolderCount => Holder is null ? 0 : 1;

    int ILeaseState<LockRecord>.WaiterCount => Waiters.Count;

    LockGrant? ILeaseState<LockRecord>.GrantOf(string sessionId, Guid requestId) =>
        Holder is { } h && h.SessionId == sessionId && h.RequestId == requestId ? h : null;

    bool ILeaseState<LockRecord>.Admits(LockRequest request) => IsIdle;

    LockGrant ILeaseState<LockRecord>.HolderAt(int index) =>
        index == 0 && Holder is { } h ? h : throw new ArgumentOutOfRangeException(nameof(index), index, "a lock has at most one holder");

    int ILeaseState<LockRecord>.PositionOf(string sessionId, Guid requestId) => LockStateMachine.PositionOf(Waiters, sessionId, requestId);

    static (LockRecord Next, AcquireDecision Decision) ILeaseState<LockRecord>.Acquire(LockRecord? current, LockRequest request, AcquireMode mode, long tokenEpoch) =>
        LockStateMachine.Acquire(current, request, mode, tokenEpoch);

    static void ILeaseState<LockRecord>.EnsureRoom(LockRecord current, LockRequest request, string name) =>
        LockStateMachine.EnsureRoom(current, request, name);

    static (LockRecord Next, ReleaseOutcome Outcome) ILeaseState<LockRecord>.Release(LockRecord? current, string name, string sessionId, Guid requestId, long token, long tokenEpoch) =>
        LockStateMachine.Release(current, name, sessionId, requestId, token, tokenEpoch);

    static (LockRecord Next, CancelOutcome Outcome) ILeaseState<LockRecord>.Cancel(LockRecord? current, string sessionId, Guid requestId, long tokenEpoch, long sequence) =>
        LockStateMachine.Cancel(current, sessionId, requestId, tokenEpoch, sequence);

    static (LockRecord Next, bool Changed) ILeaseState<LockRecord>.SessionEnded(LockRecord? current, string sessionId, SessionEnd how, long tokenEpoch) =>
        LockStateMachine.SessionEnded(current, sessionId, how, tokenEpoch);

    static LockRecord ILeaseState<LockRecord>.EndLockDelay(LockRecord? current, long afterToken, long tokenEpoch) =>
        LockStateMachine.EndLockDelay(current, afterToken, tokenEpoch);

    static LockRecord ILeaseState<LockRecord>.WithCovers(LockRecord current, ImmutableList<SessionCover> covers) =>
        current with { SessionCovers = covers.IsEmpty ? null : covers };

    static LockRecord ILeaseState<LockRecord>.LetGo(LockRecord? current, string sessionId, Guid requestId) =>
        LockStateMachine.LetGo(current, sessionId, requestId);
}
