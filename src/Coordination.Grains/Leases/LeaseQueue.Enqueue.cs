namespace Coordination.Grains.Leases;

/// <summary>The enqueue of a <see cref="LeaseQueue{TRecord, TQueue}"/>: attached, or carried by its session's cover.</summary>
internal sealed partial class LeaseQueue<TRecord, TQueue>
{
    /// <summary>
    /// Enqueues (session, request), recorded in its session first, and waits, parked on the silo, up to
    /// <paramref name="maxWait"/> for the grant. Returns the grant, or the decision when not granted. The order
    /// (this register's promise, then the session's attach, then the commit under that promise) is what keeps a
    /// grant from outliving its session: see <see cref="SessionAttachments{TQueue}"/>. A request its session's cover
    /// carries (<see cref="SessionCovers"/>) skips the attach: its commit checks that the committed value still
    /// names the cover, which stays attached while it does.
    /// </summary>
    /// <param name="admit">A check of the queue the request brings (a semaphore's count), applied in the same change: it may throw, and nothing changes.</param>
    public async Task<(LockGrant? Grant, AcquireDecision Decision)> EnqueueAsync(LockRequest entry, AcquireMode mode, TimeSpan maxWait, long settledThrough, Func<TQueue, TQueue>? admit = null)
    {
        // A request attached by this call does not ride on a cover made meanwhile (its attachment would stay behind),
        // and one whose ride was refused at the commit attaches next (it would race the other riders again).
        var noRide = false;
        for (var attempt = 1; ; attempt++)
        {
            var settlesBefore = _finished.CoverSettles;
            var view = await Register.PeekAsync();
            var seen = view.Value is null ? null : _kind.QueueOf(view.Value);
            if (seen is not null && admit is not null)
            {
                // Refused before the session records anything (checked again in the commit).
                admit(seen);
            }

            var known = seen is not null && Knows(seen, entry);
            var cover = seen is null ? null : SessionCovers.Find(seen.Covers, entry.SessionId);
            if (!known && SessionCovers.Settles(cover, entry.Sequence))
            {
                throw LateCopy(entry, cover!);
            }

            var wanted = seen is null || (!known && (mode == AcquireMode.Wait || seen.Admits(entry)));
            var rides = _covers && wanted && !noRide && entry.Sequence > 0 && SessionCovers.Carries(seen!, cover, entry.Sequence) && !_sessions.IsEndedHere(entry.SessionId);
            var attach = wanted && !rides;
            var covering = _covers && attach && entry.Sequence > 0 && seen is not null && SessionCovers.Worth(seen, entry.SessionId);
            if (covering)
            {
                _finished.Watch(entry.SessionId);
            }

            AcquireDecision? decision;
            var request = entry;
            try
            {
                var finished = attach ? _finished.ToDetach(seen, entry.SessionId) : [];

                // A late copy below the cover's mark is sent with it, so the session refuses it as settled.
                var attached = attach ? await _sessions.AttachAsync(entry, Math.Max(settledThrough, cover?.Mark ?? 0), finished, covering) : null;
                noRide = true;
                _finished.Detached(seen, entry.SessionId, finished);
                // A carried request takes its cover's copy of the session id (equal, and already in the record): the
                // serializer writes a string it has seen in a message as a reference, so the record carries it once.
                request = rides
                    ? entry with { SessionId = cover!.SessionId, SessionTtl = cover.Ttl, Cover = cover.Sequence }
                    : entry with { SessionTtl = attached?.Ttl ?? TimeSpan.Zero };
                var change = InLifecycle<AcquireDecision?>((q, c) =>
                {
                    var (next, d) = TQueue.Acquire(admit is null ? q : admit(q), request, mode, c.TokenEpoch);
                    var adds = next.WaiterCount > q.WaiterCount || (!ReferenceEquals(next, q) && next.GrantOf(request.SessionId, request.RequestId) is not null);
                    if (!adds)
                    {
                        return (next, d);
                    }

                    var standing = SessionCovers.Find(q.Covers, request.SessionId);
                    if (SessionCovers.Settles(standing, request.Sequence))
                    {
                        // The mark passed it while it was being attached: a retry of it rode, finished and was forgotten.
                        throw LateCopy(request, standing!);
                    }

                    // An attached request commits under the promise it attached under, with its session's cover as it was
                    // then and no cover settled meanwhile (a settle may have let its attachment go: go round and look again).
                    var allowed = rides
                        ? standing is not null && standing.Sequence == request.Cover && SessionCovers.Carries(q, standing, request.Sequence)
                        : attach && c.Generation == view.Generation && standing?.Sequence == cover?.Sequence && standing?.Retiring == cover?.Retiring
                            && _finished.CoverSettles == settlesBefore;
                    if (!allowed || _sessions.IsEndedHere(request.SessionId))
                    {
                        // Not attached under this promise, or its cover is gone: leave everything as it is and go round again.
                        return (q, null);
                    }

                    if (next.WaiterCount > q.WaiterCount)
                    {
                        TQueue.EnsureRoom(q, request, Name);
                    }

                    next = SessionCovers.Heard(next, request.SessionId, settledThrough);
                    if (covering && attached is not null)
                    {
                        next = SessionCovers.Make(next, request, settledThrough, attached.HighestKnown, _finished.ForgottenOf(request.SessionId));
                    }

                    return (next, d);
                });

                // A new request that will wait behind a holder anyway goes with the next change instead of a round of its own.
                decision = await (LingerGate.Lingers(mode, maxWait, seen, known, request)
                    ? Register.ExecuteLaterAsync(change, () => !CommittedQueue.Admits(request))
                    : Register.ExecuteAsync(change));
            }
            finally
            {
                if (covering)
                {
                    _finished.Unwatch(entry.SessionId);
                }
            }

            if (decision is not { } made)
            {
                if (attempt >= MaxEnqueueAttempts)
                {
                    throw new QuorumUnavailableException(Register.Key, 0, 0, "the register kept changing while the request was being attached to its session; retry with the same request id");
                }

                continue;
            }

            if (made.FinishedAs is { } end)
            {
                throw new RequestFinishedException(Name, entry.RequestId, end.ToString());
            }

            if (made.Status == AcquireStatus.Granted)
            {
                return (GrantOf(request, made), made);
            }

            if (mode != AcquireMode.Wait || maxWait <= TimeSpan.Zero)
            {
                return (null, made);
            }

            return await _parked.ParkAsync(request, maxWait);
        }
    }

    /// <summary>The client has settled every request up to its cover's mark that is not held or queued here: this one is over.</summary>
    private RequestFinishedException LateCopy(LockRequest entry, SessionCover cover) =>
        new(Name, entry.RequestId, $"request number {entry.Sequence} is at or below the mark its session settled ({cover.Mark})");
}
