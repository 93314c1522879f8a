using System.Collections.Immutable;

namespace Coordination.Grains.Locks;

/// <summary>What an acquire found, decided on the register's current value.</summary>
public readonly record struct AcquireDecision(AcquireStatus Status, long Token, int Position, RequestEnd? FinishedAs)
{
    public static AcquireDecision Finished(RequestEnd end) => new(AcquireStatus.NotAvailable, 0, -1, end);
}

/// <summary>
/// The exclusive lock as pure transitions on <see cref="LockRecord"/>. Every transition that frees the
/// lock hands it to the first waiter in the same step (one accept per handoff), unless a lock-delay is
/// pending. Holders are (session, request id); tokens only grow.
/// </summary>
public static class LockStateMachine
{
    /// <summary>How many finished requests are remembered for idempotent retries and releases.</summary>
    public const int MaxFinished = 32;

    public static (LockRecord Next, AcquireDecision Decision) Acquire(LockRecord? current, LockRequest request, AcquireMode mode, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        if (r.Holder is { } h && Same(h.SessionId, h.RequestId, request))
        {
            return (r, new AcquireDecision(AcquireStatus.Granted, h.Token, 0, null));
        }

        var position = r.Waiters.FindIndex(w => Same(w.SessionId, w.RequestId, request));
        if (position >= 0)
        {
            return (r, new AcquireDecision(AcquireStatus.Queued, 0, position, null));
        }

        var finished = r.Finished.Find(f => f.SessionId == request.SessionId && f.RequestId == request.RequestId);
        if (finished is not null)
        {
            return (r, AcquireDecision.Finished(finished.End));
        }

        if (r.Holder is null && r.Waiters.IsEmpty && r.PendingDelay is null)
        {
            var token = FencingTokens.Next(r.LastToken, tokenEpoch);
            var grant = new LockGrant(request.SessionId, request.RequestId, token, request.Owner, request.LockDelay);
            return (r with { LastToken = token, Holder = grant }, new AcquireDecision(AcquireStatus.Granted, token, 0, null));
        }

        if (mode == AcquireMode.IfAvailable)
        {
            return (r, new AcquireDecision(AcquireStatus.NotAvailable, 0, -1, null));
        }

        return (r with { Waiters = r.Waiters.Add(request) }, new AcquireDecision(AcquireStatus.Queued, 0, r.Waiters.Count, null));
    }

    /// <summary>Releases the grant (session, request id) carrying <paramref name="token"/>. Repeats succeed; anyone else is refused.</summary>
    public static (LockRecord Next, ReleaseOutcome Outcome) Release(LockRecord? current, string lockName, string sessionId, Guid requestId, long token, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        if (r.Holder is { } h && h.SessionId == sessionId && h.RequestId == requestId)
        {
            if (h.Token != token)
            {
                throw new LockNotHeldException(lockName, $"request {requestId} holds token {h.Token}, not {token}");
            }

            return (HandOff(Finish(r with { Holder = null }, h, RequestEnd.Released), tokenEpoch), ReleaseOutcome.Released);
        }

        var finished = r.Finished.Find(f => f.SessionId == sessionId && f.RequestId == requestId);
        if (finished is not null && finished.Token == token)
        {
            return (r, ReleaseOutcome.AlreadyReleased);
        }

        if (r.Waiters.Any(w => w.SessionId == sessionId && w.RequestId == requestId))
        {
            throw new LockNotHeldException(lockName, $"request {requestId} is still queued, not granted (cancel it instead)");
        }

        throw new LockNotHeldException(lockName, finished is null
            ? $"request {requestId} of this session does not hold it"
            : $"request {requestId} ended ({finished.End}) with token {finished.Token}, not {token}");
    }

    /// <summary>Withdraws (session, request id): leaves the queue, or undoes a grant that raced the cancel.</summary>
    public static (LockRecord Next, CancelOutcome Outcome) Cancel(LockRecord? current, string sessionId, Guid requestId, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        if (r.Holder is { } h && h.SessionId == sessionId && h.RequestId == requestId)
        {
            return (HandOff(Finish(r with { Holder = null }, h, RequestEnd.Cancelled), tokenEpoch), CancelOutcome.GrantUndone);
        }

        var index = r.Waiters.FindIndex(w => w.SessionId == sessionId && w.RequestId == requestId);
        if (index >= 0)
        {
            var w = r.Waiters[index];
            return (Remember(r with { Waiters = r.Waiters.RemoveAt(index) }, new FinishedRequest(w.SessionId, w.RequestId, 0, RequestEnd.Cancelled)), CancelOutcome.Dequeued);
        }

        // Remember the cancel, so a duplicate of the acquire that arrives later cannot queue again.
        var known = r.Finished.Any(f => f.SessionId == sessionId && f.RequestId == requestId);
        return (known ? r : Remember(r, new FinishedRequest(sessionId, requestId, 0, RequestEnd.Cancelled)), CancelOutcome.NotFound);
    }

    /// <summary>
    /// The session ended: drop its waiters and its grant. If it held the lock because its lease expired
    /// (not a clean close) and asked for a lock-delay, the lock stays unavailable for that long.
    /// </summary>
    public static (LockRecord Next, bool Changed) SessionEnded(LockRecord? current, string sessionId, bool expired, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        var waiters = r.Waiters.RemoveAll(w => w.SessionId == sessionId);
        var finished = r.Finished.RemoveAll(f => f.SessionId == sessionId);
        var changed = waiters.Count != r.Waiters.Count || finished.Count != r.Finished.Count;
        var next = r with { Waiters = waiters, Finished = finished };
        if (r.Holder is { } h && h.SessionId == sessionId)
        {
            changed = true;
            next = next with { Holder = null };
            if (expired && h.LockDelay > TimeSpan.Zero)
            {
                next = next with { PendingDelay = h.LockDelay };
            }
        }

        return changed ? (HandOff(next, tokenEpoch), true) : (r, false);
    }

    /// <summary>Ends a pending lock-delay and hands the lock to the first waiter.</summary>
    public static LockRecord EndLockDelay(LockRecord? current, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        return r.PendingDelay is null ? r : HandOff(r with { PendingDelay = null }, tokenEpoch);
    }

    /// <summary>Admin revoke: takes the grant away and burns one token, so the next grant is at least two above the revoked one.</summary>
    public static (LockRecord Next, LockGrant? Revoked) Revoke(LockRecord? current, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        var bumped = r with { LastToken = FencingTokens.Next(r.LastToken, tokenEpoch) };
        if (r.Holder is not { } h)
        {
            return (bumped, null);
        }

        return (HandOff(Finish(bumped with { Holder = null }, h, RequestEnd.Revoked), tokenEpoch), h);
    }

    /// <summary>Gives a free lock to the first waiter with the next token, unless a lock-delay is pending.</summary>
    public static LockRecord HandOff(LockRecord r, long tokenEpoch)
    {
        if (r.Holder is not null || r.PendingDelay is not null || r.Waiters.IsEmpty)
        {
            return r;
        }

        var first = r.Waiters[0];
        var token = FencingTokens.Next(r.LastToken, tokenEpoch);
        return r with
        {
            LastToken = token,
            Holder = new LockGrant(first.SessionId, first.RequestId, token, first.Owner, first.LockDelay),
            Waiters = r.Waiters.RemoveAt(0),
        };
    }

    private static LockRecord Finish(LockRecord r, LockGrant grant, RequestEnd end) =>
        Remember(r, new FinishedRequest(grant.SessionId, grant.RequestId, grant.Token, end));

    private static LockRecord Remember(LockRecord r, FinishedRequest f)
    {
        var finished = r.Finished.Add(f);
        return r with { Finished = finished.Count > MaxFinished ? finished.RemoveAt(0) : finished };
    }

    private static bool Same(string sessionId, Guid requestId, LockRequest request) =>
        sessionId == request.SessionId && requestId == request.RequestId;
}
