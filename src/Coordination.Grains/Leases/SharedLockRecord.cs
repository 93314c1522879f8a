using System.Collections.Immutable;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Leases;

/// <summary>
/// The upgrade of a reader-writer lock's upgradeable reader (session, request) to writer: pending while
/// <paramref name="Token"/> is 0, then held with that writer's token. Only one upgradeable reader exists at a
/// time, so only one upgrade does, and two upgraders can never wait for each other.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.PendingUpgrade")]
internal sealed record PendingUpgrade(string SessionId, Guid RequestId, long Token)
{
    public bool IsGranted => Token > 0;

    public bool Of(LockGrant holder) => holder.SessionId == SessionId && holder.RequestId == RequestId;
}

/// <summary>
/// The replicated state of a lease with many holders: a counting semaphore (<paramref name="MaxCount"/> permits,
/// each grant shared) or a reader-writer lock (<paramref name="MaxCount"/> 0: shared readers, exclusive writers,
/// one upgradeable reader). The FIFO queue is kept in the register as the exclusive lock's is; a record with
/// nothing held, queued, delayed or remembered is deleted, and its last token lives on in the partition's floor.
/// </summary>
/// <param name="MaxCount">A semaphore's permits, fixed while its register exists; 0 for a reader-writer lock.</param>
/// <param name="LastToken">The highest token handed out (or burned).</param>
/// <param name="Upgrade">The upgradeable reader's upgrade to writer, pending or granted.</param>
/// <param name="SessionCovers">Sessions' covers here; null for none.</param>
[GenerateSerializer, Immutable, Alias("coord.SharedLockRecord")]
internal sealed record SharedLockRecord(
    int MaxCount,
    long LastToken,
    ImmutableList<LockGrant> Holders,
    ImmutableList<LockRequest> Waiters,
    ImmutableList<FinishedRequest> Finished,
    PendingDelay? Delay,
    PendingUpgrade? Upgrade,
    long ForgottenBelow,
    ImmutableList<SessionCover>? SessionCovers = null) : IRegisterValue, ILeaseState<SharedLockRecord>
{
    public static readonly SharedLockRecord Empty = new(0, 0, [], [], [], null, null, 0);

    /// <summary>The state of a register that does not exist: free, its count not fixed, counting tokens from the partition's floor.</summary>
    public static SharedLockRecord Fresh(long tokenFloor) => tokenFloor == 0 ? Empty : Empty with { LastToken = tokenFloor, ForgottenBelow = tokenFloor };

    static SharedLockRecord ILeaseState<SharedLockRecord>.Empty => Empty;

    public bool IsSemaphore => MaxCount > 0;

    public bool IsIdle => Holders.IsEmpty && Waiters.IsEmpty && Delay is null;

    /// <summary>Idle and with nothing left to remember: the register can be deleted.</summary>
    public bool IsEmpty => IsIdle && Finished.IsEmpty && Covers.IsEmpty;

    /// <summary>Sessions' covers here (<see cref="Leases.SessionCovers"/>).</summary>
    public ImmutableList<SessionCover> Covers => SessionCovers ?? [];

    public int HolderCount => Holders.Count;

    public int WaiterCount => Waiters.Count;

    public FinishedLog Log => new(Finished, ForgottenBelow);

    long IRegisterValue.Floor => LastToken;

    int IRegisterValue.EstimatedBytes =>
        64 + Holders.Sum(h => 96 + (h.Owner?.Length ?? 0)) + Waiters.Sum(w => 96 + (w.Owner?.Length ?? 0)) + (Finished.Count * 64) + (Covers.Count * 96);

    public SharedLockRecord With(FinishedLog log) => this with { Finished = log.Finished, ForgottenBelow = log.ForgottenBelow };

    public IEnumerable<LockRequest> Requests() => Holders.Select(h => h.ToRequest()).Concat(Waiters);

    public LockGrant? GrantOf(string sessionId, Guid requestId) => Holders.Find(h => h.SessionId == sessionId && h.RequestId == requestId);

    public int PositionOf(string sessionId, Guid requestId) => LockStateMachine.PositionOf(Waiters, sessionId, requestId);

    public LockGrant HolderAt(int index) => Holders[index];

    public bool Admits(LockRequest request) => Waiters.IsEmpty && SharedLockStateMachine.Grantable(this, request);

    static (SharedLockRecord Next, AcquireDecision Decision) ILeaseState<SharedLockRecord>.Acquire(SharedLockRecord? current, LockRequest request, AcquireMode mode, long tokenEpoch) =>
        SharedLockStateMachine.Acquire(current, request, mode, tokenEpoch);

    static void ILeaseState<SharedLockRecord>.EnsureRoom(SharedLockRecord current, LockRequest request, string name) =>
        SharedLockStateMachine.EnsureRoom(current, name);

    static (SharedLockRecord Next, ReleaseOutcome Outcome) ILeaseState<SharedLockRecord>.Release(SharedLockRecord? current, string name, string sessionId, Guid requestId, long token, long tokenEpoch) =>
        SharedLockStateMachine.Release(current, name, sessionId, requestId, token, tokenEpoch);

    static (SharedLockRecord Next, CancelOutcome Outcome) ILeaseState<SharedLockRecord>.Cancel(SharedLockRecord? current, string sessionId, Guid requestId, long tokenEpoch, long sequence) =>
        SharedLockStateMachine.Cancel(current, sessionId, requestId, tokenEpoch, sequence);

    static (SharedLockRecord Next, bool Changed) ILeaseState<SharedLockRecord>.SessionEnded(SharedLockRecord? current, string sessionId, SessionEnd how, long tokenEpoch) =>
        SharedLockStateMachine.SessionEnded(current, sessionId, how, tokenEpoch);

    static SharedLockRecord ILeaseState<SharedLockRecord>.EndLockDelay(SharedLockRecord? current, long afterToken, long tokenEpoch)
    {
        var r = current ?? Empty;
        return r.Delay?.AfterToken == afterToken ? SharedLockStateMachine.HandOff(r with { Delay = null }, tokenEpoch) : r;
    }

    static SharedLockRecord ILeaseState<SharedLockRecord>.WithCovers(SharedLockRecord current, ImmutableList<SessionCover> covers) =>
        current with { SessionCovers = covers.IsEmpty ? null : covers };

    static SharedLockRecord ILeaseState<SharedLockRecord>.LetGo(SharedLockRecord? current, string sessionId, Guid requestId)
    {
        var r = current ?? Empty;
        return r.Log.Find(sessionId, requestId) is null ? r : r.With(r.Log.LetGo(sessionId, requestId));
    }
}
