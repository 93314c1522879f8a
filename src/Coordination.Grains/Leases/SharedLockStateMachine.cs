namespace Coordination.Grains.Leases;

/// <summary>What an upgrade to writer found.</summary>
internal enum UpgradeStatus
{
    Granted = 0,
    Waiting = 1,
    NotAvailable = 2,
}

/// <summary>
/// The semaphore and the reader-writer lock as pure transitions on <see cref="SharedLockRecord"/>. The queue is
/// strictly FIFO: every change grants from its head for as long as the head fits beside the holders, and stops at
/// the first that does not. So a queued writer holds back every reader behind it (writer preference: a stream of
/// readers never starves a writer), and a pending upgrade holds back everyone. Tokens: every permit and every
/// writer gets a fresh token, strictly above every earlier one; a reader carries the lock's last token, that of
/// the write epoch it reads in (Chubby's sequencers; Hazelcast's FencedLock readers).
/// </summary>
internal static class SharedLockStateMachine
{
    /// <summary>Most permits a semaphore has, and most holders and waiters one shared lock keeps (every accept carries them all).</summary>
    public const int MaxEntries = LockStateMachine.MaxWaiters;

    /// <summary>Fixes a semaphore's permits at first use; a later use with another count is refused and changes nothing.</summary>
    public static SharedLockRecord WithCount(SharedLockRecord r, int maxCount, string name)
    {
        if (r.MaxCount == maxCount)
        {
            return r;
        }

        return r.MaxCount == 0
            ? r with { MaxCount = maxCount }
            : throw new SemaphoreCountMismatchException(name, r.MaxCount, maxCount);
    }

    public static void EnsureRoom(SharedLockRecord current, string name)
    {
        if (current.Holders.Count + current.Waiters.Count >= MaxEntries)
        {
            throw new QueueFullException(name, $"it already has {current.Holders.Count} holders and {current.Waiters.Count} waiters, the most it keeps");
        }
    }

    /// <summary>True when <paramref name="request"/> fits beside the current holders (queue order aside).</summary>
    public static bool Grantable(SharedLockRecord r, LockRequest request)
    {
        if (r.Delay is not null || r.Upgrade is not null)
        {
            return false;
        }

        return request.Access switch
        {
            LeaseAccess.Exclusive => r.Holders.IsEmpty,
            LeaseAccess.Shared => !r.Holders.Any(h => h.Access == LeaseAccess.Exclusive) && (!r.IsSemaphore || r.Holders.Count < r.MaxCount),
            _ => r.Holders.All(h => h.Access == LeaseAccess.Shared),
        };
    }

    public static (SharedLockRecord Next, AcquireDecision Decision) Acquire(SharedLockRecord? current, LockRequest request, AcquireMode mode, long tokenEpoch)
    {
        var r = current ?? SharedLockRecord.Empty;
        if (r.GrantOf(request.SessionId, request.RequestId) is { } h)
        {
            return (r, new AcquireDecision(AcquireStatus.Granted, h.Token, 0, null));
        }

        var position = r.PositionOf(request.SessionId, request.RequestId);
        if (position >= 0)
        {
            return (r, new AcquireDecision(AcquireStatus.Queued, 0, position, null));
        }

        if (r.Log.Find(request.SessionId, request.RequestId) is { } finished)
        {
            return (r, AcquireDecision.Finished(finished.End));
        }

        if (r.Admits(request))
        {
            var (next, grant) = Grant(r, request, tokenEpoch);
            return (next, new AcquireDecision(AcquireStatus.Granted, grant.Token, 0, null));
        }

        return mode == AcquireMode.IfAvailable
            ? (r, new AcquireDecision(AcquireStatus.NotAvailable, 0, -1, null))
            : (r with { Waiters = r.Waiters.Add(request) }, new AcquireDecision(AcquireStatus.Queued, 0, r.Waiters.Count, null));
    }

    /// <summary>Releases the grant (session, request id) carrying <paramref name="token"/> (an upgraded reader's with it). Repeats succeed; anyone else is refused.</summary>
    public static (SharedLockRecord Next, ReleaseOutcome Outcome) Release(SharedLockRecord? current, string name, string sessionId, Guid requestId, long token, long tokenEpoch)
    {
        var r = current ?? SharedLockRecord.Empty;
        if (r.GrantOf(sessionId, requestId) is { } h)
        {
            return h.Token != token
                ? throw new LockNotHeldException(name, $"request {requestId} holds token {h.Token}, not {token}")
                : (HandOff(Finish(r, h, RequestEnd.Released), tokenEpoch), ReleaseOutcome.Released);
        }

        return (r, r.Log.ReleaseOfNoGrant(name, sessionId, requestId, token, r.PositionOf(sessionId, requestId) >= 0));
    }

    /// <summary>Withdraws (session, request id): leaves the queue, or undoes a grant that raced the cancel.</summary>
    public static (SharedLockRecord Next, CancelOutcome Outcome) Cancel(SharedLockRecord? current, string sessionId, Guid requestId, long tokenEpoch, long sequence = 0)
    {
        var r = current ?? SharedLockRecord.Empty;
        if (r.GrantOf(sessionId, requestId) is { } h)
        {
            return (HandOff(Finish(r, h, RequestEnd.Cancelled), tokenEpoch), CancelOutcome.GrantUndone);
        }

        var index = r.PositionOf(sessionId, requestId);
        if (index >= 0)
        {
            var w = r.Waiters[index];
            var dequeued = r.With(r.Log.Add(w.ToFinished(0, RequestEnd.Cancelled), r.Covers)) with { Waiters = r.Waiters.RemoveAt(index) };
            return (HandOff(dequeued, tokenEpoch), CancelOutcome.Dequeued);
        }

        // Remembered, so a duplicate of the acquire that arrives later cannot queue again (as the exclusive lock does).
        var known = r.Log.Find(sessionId, requestId) is not null;
        return (known ? r : r.With(r.Log.Add(new FinishedRequest(sessionId, requestId, 0, RequestEnd.Cancelled, sequence), r.Covers)), CancelOutcome.NotFound);
    }

    /// <summary>
    /// The session ended: drop its grants, its waiters and its finished requests, and grant on. A grant whose
    /// session's state vanished blocks new grants for a whole TTL (its owner may still believe in its lease);
    /// the delay is marked with a burned token of its own, so it is never confused with another.
    /// </summary>
    public static (SharedLockRecord Next, bool Changed) SessionEnded(SharedLockRecord? current, string sessionId, SessionEnd how, long tokenEpoch)
    {
        var r = current ?? SharedLockRecord.Empty;
        var held = r.Holders.Where(h => h.SessionId == sessionId).ToList();
        if (held.Count == 0 && !r.Waiters.Any(w => w.SessionId == sessionId) && !r.Finished.Any(f => f.SessionId == sessionId))
        {
            return (r, false);
        }

        var next = r.With(r.Log.WithoutSession(sessionId)) with
        {
            Holders = r.Holders.RemoveAll(h => h.SessionId == sessionId),
            Waiters = r.Waiters.RemoveAll(w => w.SessionId == sessionId),
            Upgrade = r.Upgrade?.SessionId == sessionId ? null : r.Upgrade,
            ForgottenBelow = Math.Max(r.ForgottenBelow, held.Select(h => h.Token).DefaultIfEmpty(0).Max()),
        };
        var wait = held.Select(h => how switch
        {
            SessionEnd.Expired => h.LockDelay,
            SessionEnd.Vanished => h.LockDelay > h.SessionTtl ? h.LockDelay : h.SessionTtl,
            _ => TimeSpan.Zero,
        }).DefaultIfEmpty(TimeSpan.Zero).Max();
        if (wait > TimeSpan.Zero)
        {
            // A delay already running is restarted in full under a fresh mark (its timer is re-armed from now),
            // never kept with the time it has already served: late, never early for the holders ending now.
            var mark = FencingTokens.Next(next.LastToken, tokenEpoch);
            next = next with { LastToken = mark, Delay = Restarted(next.Delay, wait, mark) };
        }

        return (HandOff(next, tokenEpoch), true);
    }

    /// <summary>
    /// Admin revoke of the grants in <paramref name="told"/> (session, request, token) that are still held: they are
    /// taken away, a token is burned, and nothing is granted for the longest revoked holder's session TTL (or its
    /// lock-delay, if longer). Their sessions were told first, so by then each client has heard at a keepalive or its
    /// deadline has passed (as <see cref="LockStateMachine.Revoke"/>). A grant made after the holders were read was
    /// not told and stays; with none of the told grants still held, nothing changes.
    /// </summary>
    public static (SharedLockRecord Next, IReadOnlyList<LockGrant> Revoked) Revoke(SharedLockRecord? current, IReadOnlySet<(string SessionId, Guid RequestId, long Token)> told, long tokenEpoch)
    {
        var r = current ?? SharedLockRecord.Empty;
        var revoked = r.Holders.Where(h => told.Contains((h.SessionId, h.RequestId, h.Token))).ToList();
        if (revoked.Count == 0)
        {
            return (r, revoked);
        }

        var mark = FencingTokens.Next(r.LastToken, tokenEpoch);
        var next = revoked.Aggregate(r with { LastToken = mark }, (q, h) => Finish(q, h, RequestEnd.Revoked));
        var hold = revoked.Max(h => h.LockDelay > h.SessionTtl ? h.LockDelay : h.SessionTtl);
        if (hold > TimeSpan.Zero)
        {
            // As in SessionEnded: a delay already running starts again from now, under the burned mark.
            next = next with { Delay = Restarted(next.Delay, hold, mark) };
        }

        return (HandOff(next, tokenEpoch), revoked);
    }

    /// <summary>
    /// The delay that covers both a pending one and a new wait of <paramref name="wait"/> starting now: the longer
    /// of the two durations, timed afresh under <paramref name="mark"/>, so the grain's timer restarts in full.
    /// </summary>
    private static PendingDelay Restarted(PendingDelay? pending, TimeSpan wait, long mark) =>
        new(pending is { } p && p.Duration > wait ? p.Duration : wait, mark);

    /// <summary>
    /// The upgradeable reader (session, request id) holding <paramref name="token"/> asks to become the writer. It
    /// waits ahead of every queued request for the other holders to leave; granted, it holds a writer's token.
    /// </summary>
    public static (SharedLockRecord Next, UpgradeStatus Status, long Token) RequestUpgrade(SharedLockRecord? current, string name, string sessionId, Guid requestId, long token, AcquireMode mode, long tokenEpoch)
    {
        var r = current ?? SharedLockRecord.Empty;
        if (r.GrantOf(sessionId, requestId) is not { Access: LeaseAccess.Upgradeable } h || h.Token != token)
        {
            throw new LockNotHeldException(name, $"request {requestId} does not hold the upgradeable read lock with token {token}");
        }

        if (r.Upgrade is { } u)
        {
            return (r, u.IsGranted ? UpgradeStatus.Granted : UpgradeStatus.Waiting, u.Token);
        }

        var next = HandOff(r with { Upgrade = new PendingUpgrade(sessionId, requestId, 0) }, tokenEpoch);
        if (next.Upgrade!.IsGranted)
        {
            return (next, UpgradeStatus.Granted, next.Upgrade.Token);
        }

        return mode == AcquireMode.IfAvailable ? (r, UpgradeStatus.NotAvailable, 0) : (next, UpgradeStatus.Waiting, 0);
    }

    /// <summary>Withdraws the upgrade of (session, request id), pending or granted: it stays an upgradeable reader. Idempotent.</summary>
    public static (SharedLockRecord Next, bool Withdrawn) WithdrawUpgrade(SharedLockRecord? current, string sessionId, Guid requestId, long tokenEpoch)
    {
        var r = current ?? SharedLockRecord.Empty;
        return r.Upgrade is { } u && u.SessionId == sessionId && u.RequestId == requestId
            ? (HandOff(r with { Upgrade = null }, tokenEpoch), true)
            : (r, false);
    }

    /// <summary>Grants a pending upgrade once its reader is alone, then the queue's head for as long as it fits.</summary>
    public static SharedLockRecord HandOff(SharedLockRecord r, long tokenEpoch)
    {
        if (r.Delay is not null)
        {
            return r;
        }

        if (r.Upgrade is { IsGranted: false } u)
        {
            if (r.Holders.Count != 1 || !u.Of(r.Holders[0]))
            {
                return r;
            }

            var token = FencingTokens.Next(r.LastToken, tokenEpoch);
            return r with { LastToken = token, Upgrade = u with { Token = token } };
        }

        while (!r.Waiters.IsEmpty && Grantable(r, r.Waiters[0]))
        {
            var head = r.Waiters[0];
            (r, _) = Grant(r with { Waiters = r.Waiters.RemoveAt(0) }, head, tokenEpoch);
        }

        return r;
    }

    /// <summary>Grants <paramref name="request"/>: a permit or a writer with a fresh token, a reader with the last one.</summary>
    private static (SharedLockRecord Next, LockGrant Grant) Grant(SharedLockRecord r, LockRequest request, long tokenEpoch)
    {
        var fresh = r.IsSemaphore || request.Access == LeaseAccess.Exclusive || r.LastToken == 0;
        var token = fresh ? FencingTokens.Next(r.LastToken, tokenEpoch) : r.LastToken;
        var grant = request.ToGrant(token);
        return (r with { LastToken = token, Holders = r.Holders.Add(grant) }, grant);
    }

    /// <summary>Ends a grant: it leaves the holders (with its upgrade) and is remembered until its session lets it go.</summary>
    private static SharedLockRecord Finish(SharedLockRecord r, LockGrant grant, RequestEnd end) =>
        r.With(r.Log.Add(grant.ToFinished(end), r.Covers)) with
        {
            Holders = r.Holders.Remove(grant),
            Upgrade = r.Upgrade is { } u && u.Of(grant) ? null : r.Upgrade,
        };
}
