using System.Collections.Immutable;

namespace Coordination;

/// <summary>Bounds of semaphores.</summary>
public static class SemaphoreLimits
{
    /// <summary>The most permits a semaphore may have (every accept replicates its holders).</summary>
    public const int MaxPermits = 10_000;
}

/// <summary>How a reader-writer lock is held.</summary>
public enum ReaderWriterAccess
{
    /// <summary>Beside other readers; no writer meanwhile.</summary>
    Read = 0,

    /// <summary>Alone.</summary>
    Write = 1,

    /// <summary>A reader that may upgrade to writer; at most one at a time, beside plain readers.</summary>
    UpgradeableRead = 2,
}

/// <summary>An acquire of one of a semaphore's permits. As <see cref="AcquireRequest"/>, plus the permit count.</summary>
/// <param name="MaxCount">The semaphore's permits: fixed by its first use, and every later use must give the same (<see cref="SemaphoreCountMismatchException"/>).</param>
/// <param name="LockDelay">As <see cref="AcquireRequest.LockDelay"/>: if this holder's session expires while it holds the permit, no permit is granted to anyone for this long.</param>
[GenerateSerializer, Immutable, Alias("coord.SemaphoreAcquireRequest")]
public sealed record SemaphoreAcquireRequest(string SessionId, Guid RequestId, int MaxCount, AcquireMode Mode, TimeSpan MaxWait, string? Owner, long Sequence = 0, long SettledThrough = 0, TimeSpan LockDelay = default);

/// <summary>An acquire of a reader-writer lock. As <see cref="AcquireRequest"/>, plus how it is to be held.</summary>
/// <param name="LockDelay">As <see cref="AcquireRequest.LockDelay"/>: if this holder's session expires while it holds, the lock is granted to nobody for this long.</param>
[GenerateSerializer, Immutable, Alias("coord.ReaderWriterAcquireRequest")]
public sealed record ReaderWriterAcquireRequest(string SessionId, Guid RequestId, ReaderWriterAccess Access, AcquireMode Mode, TimeSpan MaxWait, string? Owner, long Sequence = 0, long SettledThrough = 0, TimeSpan LockDelay = default);

/// <summary>The upgradeable reader (session, request id) holding <paramref name="FencingToken"/> asks to become the writer.</summary>
/// <param name="MaxWait">How long this call may stay parked on the silo; the client calls again to keep waiting.</param>
[GenerateSerializer, Immutable, Alias("coord.UpgradeRequest")]
public sealed record UpgradeRequest(string SessionId, Guid RequestId, long FencingToken, AcquireMode Mode, TimeSpan MaxWait);

/// <summary>A holder of a reader-writer lock or of a semaphore's permit (as <see cref="ReaderWriterAccess.Read"/>).</summary>
/// <param name="Access">How it holds; an upgraded reader shows as <see cref="ReaderWriterAccess.Write"/> with its writer's token.</param>
[GenerateSerializer, Immutable, Alias("coord.SharedHolder")]
public sealed record SharedHolder(string SessionTag, Guid RequestId, ReaderWriterAccess Access, long FencingToken, string? Owner);

/// <summary>A queued request of a reader-writer lock or semaphore, in FIFO order.</summary>
[GenerateSerializer, Immutable, Alias("coord.SharedWaiter")]
public sealed record SharedWaiter(string SessionTag, Guid RequestId, ReaderWriterAccess Access, string? Owner);

/// <summary>A linearizable view of a semaphore or reader-writer lock, read through a majority accept that began after the query arrived.</summary>
/// <param name="MaxCount">A semaphore's permits (0 when it is not in use, and for a reader-writer lock).</param>
/// <param name="UpgradePending">The upgradeable reader waits to become the writer (new readers wait behind it).</param>
/// <param name="LockDelayActive">Nothing is granted until a delay ends: an expired holder's lock-delay, or the wait after a revoke.</param>
[GenerateSerializer, Immutable, Alias("coord.SharedLockInfo")]
public sealed record SharedLockInfo(string Name, int MaxCount, ImmutableArray<SharedHolder> Holders, ImmutableArray<SharedWaiter> Waiters, long LastFencingToken, bool UpgradePending, bool LockDelayActive = false);

/// <summary>What an operator's revoke of a semaphore or reader-writer lock took away.</summary>
/// <param name="Revoked">The grants taken away (their sessions were told first); empty when nobody held it.</param>
/// <param name="LastFencingToken">The highest token after the revoke (one was burned if anything was revoked): every later permit's and writer's token is above it, a later reader's at or above it (readers carry the last token).</param>
[GenerateSerializer, Immutable, Alias("coord.SharedRevokeResult")]
public sealed record SharedRevokeResult(ImmutableArray<SharedHolder> Revoked, long LastFencingToken);

/// <summary>
/// A counting semaphore: up to a fixed number of holders at once, FIFO, each permit fenced and tied to its
/// session. Every reply that states its state follows a majority accept that began after the request arrived.
/// </summary>
[Alias("coord.ISemaphoreGrain")]
public interface ISemaphoreGrain : IGrainWithStringKey
{
    /// <summary>Acquires (or keeps waiting for) a permit for (session, request id). Idempotent per request id.</summary>
    [Alias("acquire")]
    Task<AcquireResult> Acquire(SemaphoreAcquireRequest request);

    /// <summary>Withdraws the request: leaves the queue, or gives back a permit that raced the cancel. Idempotent.</summary>
    [Alias("cancel")]
    Task<CancelOutcome> Cancel(string sessionId, Guid requestId, long sequence = 0);

    /// <summary>Gives the permit back. Repeating succeeds; anyone else gets <see cref="LockNotHeldException"/>.</summary>
    [Alias("release")]
    Task<ReleaseOutcome> Release(ReleaseRequest request);

    [Alias("info")]
    Task<SharedLockInfo> GetInfo();

    /// <summary>
    /// Admin: takes every grant away from its holder (each holder's session told first, so its lost signal fires),
    /// burns a token, and grants nothing more for the longest revoked holder's session TTL (or lock-delay, if longer).
    /// With nobody holding, nothing changes. Not idempotent: a repeat revokes whoever holds by then.
    /// </summary>
    [Alias("revoke")]
    Task<SharedRevokeResult> Revoke(string reason);
}

/// <summary>
/// A reader-writer lock: many readers or one writer, FIFO with writer preference, and one upgradeable reader
/// that may become the writer. Fenced, tied to sessions, replicated as the exclusive lock is.
/// </summary>
[Alias("coord.IReaderWriterLockGrain")]
public interface IReaderWriterLockGrain : IGrainWithStringKey
{
    /// <summary>Acquires (or keeps waiting for) the lock for (session, request id) as reader, writer or upgradeable reader. Idempotent per request id.</summary>
    [Alias("acquire")]
    Task<AcquireResult> Acquire(ReaderWriterAcquireRequest request);

    /// <summary>The upgradeable reader becomes the writer once the other readers have left (it waits ahead of every queued request). Idempotent.</summary>
    [Alias("upgrade")]
    Task<AcquireResult> Upgrade(UpgradeRequest request);

    /// <summary>Withdraws an upgrade (pending, or granted and not yet used): the holder stays an upgradeable reader. Idempotent.</summary>
    [Alias("withdraw-upgrade")]
    Task<bool> WithdrawUpgrade(string sessionId, Guid requestId);

    /// <summary>Withdraws the request: leaves the queue, or undoes a grant that raced the cancel. Idempotent.</summary>
    [Alias("cancel")]
    Task<CancelOutcome> Cancel(string sessionId, Guid requestId, long sequence = 0);

    /// <summary>Releases the grant (an upgraded reader's writer grant with it). Repeating succeeds; anyone else gets <see cref="LockNotHeldException"/>.</summary>
    [Alias("release")]
    Task<ReleaseOutcome> Release(ReleaseRequest request);

    [Alias("info")]
    Task<SharedLockInfo> GetInfo();

    /// <summary>
    /// Admin: takes every grant away from its holder (each holder's session told first, so its lost signal fires),
    /// burns a token, and grants nothing more for the longest revoked holder's session TTL (or lock-delay, if longer).
    /// With nobody holding, nothing changes. Not idempotent: a repeat revokes whoever holds by then.
    /// </summary>
    [Alias("revoke")]
    Task<SharedRevokeResult> Revoke(string reason);
}
