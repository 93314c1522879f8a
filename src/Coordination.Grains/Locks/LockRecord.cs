using System.Collections.Immutable;

namespace Coordination.Grains.Locks;

/// <summary>The current grant of a lock.</summary>
[GenerateSerializer, Immutable, Alias("coord.LockGrant")]
public sealed record LockGrant(string SessionId, Guid RequestId, long Token, string? Owner, TimeSpan LockDelay);

/// <summary>A queued acquire.</summary>
[GenerateSerializer, Immutable, Alias("coord.LockRequest")]
public sealed record LockRequest(string SessionId, Guid RequestId, string? Owner, TimeSpan LockDelay);

/// <summary>How a request ended. Kept for a while so retries and repeated releases are idempotent.</summary>
public enum RequestEnd
{
    Released = 0,
    Cancelled = 1,
    SessionEnded = 2,
    Revoked = 3,
}

[GenerateSerializer, Immutable, Alias("coord.FinishedRequest")]
public sealed record FinishedRequest(string SessionId, Guid RequestId, long Token, RequestEnd End);

/// <summary>
/// The replicated state of one exclusive lock: the last token handed out, the holder, the FIFO queue
/// (kept in the register so fairness survives failover), recently finished requests, and a pending
/// lock-delay (a duration, never a wall-clock time: each activation restarts it in full).
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.LockRecord")]
public sealed record LockRecord(
    long LastToken,
    LockGrant? Holder,
    ImmutableList<LockRequest> Waiters,
    ImmutableList<FinishedRequest> Finished,
    TimeSpan? PendingDelay)
{
    public static readonly LockRecord Empty = new(0, null, [], [], null);

    public bool Involves(string sessionId) =>
        Holder?.SessionId == sessionId || Waiters.Any(w => w.SessionId == sessionId);

    /// <summary>The distinct sessions holding or waiting, holder first.</summary>
    public IEnumerable<string> Sessions() =>
        (Holder is null ? Waiters.Select(w => w.SessionId) : Waiters.Select(w => w.SessionId).Prepend(Holder.SessionId)).Distinct(StringComparer.Ordinal);
}
