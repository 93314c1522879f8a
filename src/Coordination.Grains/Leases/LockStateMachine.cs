using System.Collections.Immutable;

namespace Coordination.Grains.Leases;

/// <summary>What an acquire found, decided on the register's current value.</summary>
internal readonly record struct AcquireDecision(AcquireStatus Status, long Token, int Position, RequestEnd? FinishedAs)
{
    public static AcquireDecision Finished(RequestEnd end) => new(AcquireStatus.NotAvailable, 0, -1, end);
}

/// <summary>
/// The exclusive lock as pure transitions on <see cref="LockRecord"/>. Every transition that frees the
/// lock hands it to the first waiter in the same step (one accept per handoff), unless a lock-delay is
/// pending. Holders are (session, request id); tokens only grow.
/// </summary>
internal static class LockStateMachine
{
    /// <summary>
    /// Most finished requests kept while their sessions are told to let go of them (normally a handful, gone
    /// within a round trip; only an unreachable session lets them pile up). Past it the oldest is forgotten.
    /// </summary>
    public const int MaxFinished = FinishedLog.Max;

    /// <summary>Most waiters one lock or election queues; every accept carries the whole queue.</summary>
    public const int MaxWaiters = 10_000;

    /// <summary>Most characters of waiters' payloads (election candidates' values) one queue holds.</summary>
    public const int MaxQueuedPayloadChars = 256 * 1024;

    /// <summary>Throws <see cref="QueueFullException"/> if <paramref name="request"/> does not fit behind the waiters of <paramref name="current"/>.</summary>
    public static void EnsureRoom(LockRecord current, LockRequest request, string name)
    {
        if (current.Waiters.Count >= MaxWaiters)
        {
            throw new QueueFullException(name, $"it already has {current.Waiters.Count} waiters, the most it keeps");
        }

        if (request.Payload is not null && current.Waiters.Sum(w => w.Payload?.Length ?? 0) + request.Payload.Length > MaxQueuedPayloadChars)
        {
            throw new QueueFullException(name, $"its waiters' values would pass {MaxQueuedPayloadChars} characters");
        }
    }

    /// <summary>The place of (session, request) among <paramref name="waiters"/>, or -1 (a loop: it runs on every acquire, and a lambda's closure allocates).</summary>
    public static int PositionOf(ImmutableList<LockRequest> waiters, string sessionId, Guid requestId)
    {
        var i = 0;
        foreach (var w in waiters)
        {
            if (w.RequestId == requestId && w.SessionId == sessionId)
            {
                return i;
            }

            i++;
        }

        return -1;
    }

    public static (LockRecord Next, AcquireDecision Decision) Acquire(LockRecord? current, LockRequest request, AcquireMode mode, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        if (r.Holder is { } h && Same(h.SessionId, h.RequestId, request))
        {
            return (r, new AcquireDecision(AcquireStatus.Granted, h.Token, 0, null));
        }

        var position = PositionOf(r.Waiters, request.SessionId, request.RequestId);
        if (position >= 0)
        {
            return (r, new AcquireDecision(AcquireStatus.Queued, 0, position, null));
        }

        if (FinishedLog.Find(r.Finished, request.SessionId, request.RequestId) is { } finished)
        {
            return (r, AcquireDecision.Finished(finished.End));
        }

        if (r.Holder is null && r.Waiters.IsEmpty && r.Delay is null)
        {
            var token = FencingTokens.Next(r.LastToken, tokenEpoch);
            var grant = request.ToGrant(token);
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

        var queued = r.Waiters.Any(w => w.SessionId == sessionId && w.RequestId == requestId);
        return (r, r.Log.ReleaseOfNoGrant(lockName, sessionId, requestId, token, queued));
    }

    /// <summary>Withdraws (session, request id): leaves the queue, or undoes a grant that raced the cancel.</summary>
    /// <param name="sequence">The request's number in its session, so the session can be told to let it go (0: unknown; only a request that was never attached has none).</param>
    public static (LockRecord Next, CancelOutcome Outcome) Cancel(LockRecord? current, string sessionId, Guid requestId, long tokenEpoch, long sequence = 0)
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
            return (Remember(r with { Waiters = r.Waiters.RemoveAt(index) }, w.ToFinished(0, RequestEnd.Cancelled)), CancelOutcome.Dequeued);
        }

        // Remember the cancel, so a duplicate of the acquire that arrives later cannot queue again (until the
        // session, told to let the request go, refuses it itself).
        var known = r.Finished.Any(f => f.SessionId == sessionId && f.RequestId == requestId);
        return (known ? r : Remember(r, new FinishedRequest(sessionId, requestId, 0, RequestEnd.Cancelled, sequence)), CancelOutcome.NotFound);
    }

    /// <summary>
    /// The session ended: drop its waiters, its grant and its finished requests (the ended session lets go of
    /// everything itself), and hand the lock on. An expired holder's lock-delay applies; a holder whose session
    /// state vanished keeps the lock blocked for a whole TTL, since its owner may still believe in its lease.
    /// How every session end reaches this, and why a request of it cannot be committed after: <see cref="SessionAttachments{TQueue}"/>.
    /// </summary>
    public static (LockRecord Next, bool Changed) SessionEnded(LockRecord? current, string sessionId, SessionEnd how, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        if (!r.Waiters.Any(w => w.SessionId == sessionId) && r.Holder?.SessionId != sessionId && !r.Finished.Any(f => f.SessionId == sessionId))
        {
            return (r, false);
        }

        var next = r.With(r.Log.WithoutSession(sessionId)) with { Waiters = r.Waiters.RemoveAll(w => w.SessionId == sessionId) };
        if (r.Holder is { } h && h.SessionId == sessionId)
        {
            next = next with { Holder = null, ForgottenBelow = Math.Max(next.ForgottenBelow, h.Token) };
            var wait = how switch
            {
                SessionEnd.Expired => h.LockDelay,
                SessionEnd.Vanished => h.LockDelay > h.SessionTtl ? h.LockDelay : h.SessionTtl,
                _ => TimeSpan.Zero,
            };
            if (wait > TimeSpan.Zero)
            {
                next = next with { Delay = new PendingDelay(wait, h.Token) };
            }
        }

        return (HandOff(next, tokenEpoch), true);
    }

    /// <summary>Ends the lock-delay of the grant with token <paramref name="afterToken"/> (and only that one) and hands the lock to the first waiter.</summary>
    public static LockRecord EndLockDelay(LockRecord? current, long afterToken, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        return r.Delay?.AfterToken == afterToken ? HandOff(r with { Delay = null }, tokenEpoch) : r;
    }

    /// <summary>
    /// Admin revoke of the grant with token <paramref name="holderToken"/> (null: nobody held it when the
    /// revoke began). Takes the grant away and burns one token, so the next grant is at least two above it,
    /// then keeps the lock free for the holder's session TTL (or its lock-delay, if longer): the holder's
    /// session was told first, so by then its client has heard at a keepalive or its deadline has passed.
    /// <c>Stale</c> when the holder is no longer the one the revoke began with (nothing changed).
    /// </summary>
    public static (LockRecord Next, LockGrant? Revoked, bool Stale) Revoke(LockRecord? current, long? holderToken, long tokenEpoch)
    {
        var r = current ?? LockRecord.Empty;
        if (r.Holder?.Token != holderToken)
        {
            return (r, null, true);
        }

        var bumped = r with { LastToken = FencingTokens.Next(r.LastToken, tokenEpoch) };
        if (r.Holder is not { } h)
        {
            return (bumped, null, false);
        }

        var hold = h.LockDelay > h.SessionTtl ? h.LockDelay : h.SessionTtl;
        return (Finish(bumped with { Holder = null, Delay = new PendingDelay(hold, h.Token) }, h, RequestEnd.Revoked), h, false);
    }

    /// <summary>Gives a free lock to the first waiter with the next token, unless a lock-delay is pending.</summary>
    public static LockRecord HandOff(LockRecord r, long tokenEpoch)
    {
        if (r.Holder is not null || r.Delay is not null || r.Waiters.IsEmpty)
        {
            return r;
        }

        var first = r.Waiters[0];
        var token = FencingTokens.Next(r.LastToken, tokenEpoch);
        return r with
        {
            LastToken = token,
            Holder = first.ToGrant(token),
            Waiters = r.Waiters.RemoveAt(0),
        };
    }

    /// <summary>The session of a finished request has let it go: forget it (a repeated release of its token stays harmless).</summary>
    public static LockRecord LetGo(LockRecord? current, string sessionId, Guid requestId)
    {
        var r = current ?? LockRecord.Empty;
        return r.Log.Find(sessionId, requestId) is null ? r : r.With(r.Log.LetGo(sessionId, requestId));
    }

    private static LockRecord Finish(LockRecord r, LockGrant grant, RequestEnd end) =>
        Remember(r, grant.ToFinished(end));

    /// <summary>Remembers a finished request until its session lets it go, within a bounded total; forgetting raises <see cref="LockRecord.ForgottenBelow"/>.</summary>
    private static LockRecord Remember(LockRecord r, FinishedRequest f) => r.With(r.Log.Add(f, r.Covers));

    private static bool Same(string sessionId, Guid requestId, LockRequest request) =>
        sessionId == request.SessionId && requestId == request.RequestId;
}
