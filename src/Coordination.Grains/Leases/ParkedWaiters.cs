namespace Coordination.Grains.Leases;

/// <summary>
/// Acquire and campaign calls parked on this silo until their queued request is decided. A parked call
/// holds no turn of the reentrant grain, so releases and hand-offs go on; every committed change wakes the
/// calls it decided (<see cref="Wake"/>). A call parks at most <c>maxPark</c> (below the grain call
/// timeout), then answers with a fresh majority read of its place, and the client calls again to keep it.
/// </summary>
internal sealed class ParkedWaiters<TQueue>(ILeaseQueue<TQueue> queue, TimeProvider time, TimeSpan maxPark)
    where TQueue : class, ILeaseState<TQueue>
{
    private readonly Dictionary<(string Session, Guid Request), TaskCompletionSource<LockGrant>> _parked = [];

    /// <summary>Waits up to <paramref name="maxWait"/> (at most <c>maxPark</c>) for the queued <paramref name="entry"/> to be granted.</summary>
    public async Task<(LockGrant? Grant, AcquireDecision Decision)> ParkAsync(LockRequest entry, TimeSpan maxWait)
    {
        var key = (entry.SessionId, entry.RequestId);
        var early = Resolve(key, queue.CommittedQueue);
        if (early.Done)
        {
            return (early.Grant ?? throw early.Error!, default);
        }

        if (!_parked.TryGetValue(key, out var parked))
        {
            parked = new TaskCompletionSource<LockGrant>(TaskCreationOptions.RunContinuationsAsynchronously);
            _parked[key] = parked;
        }

        var wait = maxWait < maxPark ? maxWait : maxPark;
        try
        {
            var grant = await parked.Task.WaitAsync(wait, time);
            return (grant, new AcquireDecision(AcquireStatus.Granted, grant.Token, 0, null));
        }
        catch (TimeoutException)
        {
            // Still queued, as far as this activation knows: answer with a fresh majority read of our place
            // (a read, never a re-enqueue: the entry may have been removed and forgotten meanwhile). The
            // client calls again to keep its place.
            var current = await queue.ReadQueueAsync();
            var outcome = Resolve(key, current);
            if (!outcome.Done)
            {
                var position = current.PositionOf(entry.SessionId, entry.RequestId);
                return (null, new AcquireDecision(AcquireStatus.Queued, 0, position, null));
            }

            var grant = outcome.Grant ?? throw outcome.Error!;
            return (grant, new AcquireDecision(AcquireStatus.Granted, grant.Token, 0, null));
        }
    }

    /// <summary>After a committed change: answers every parked call that <paramref name="committed"/> decided.</summary>
    public void Wake(TQueue committed)
    {
        if (_parked.Count == 0)
        {
            return;
        }

        foreach (var key in _parked.Keys.ToList())
        {
            var outcome = Resolve(key, committed);
            if (!outcome.Done)
            {
                continue;
            }

            var tcs = _parked[key];
            _parked.Remove(key);
            if (outcome.Grant is { } grant)
            {
                tcs.TrySetResult(grant);
            }
            else
            {
                tcs.TrySetException(outcome.Error!);
            }
        }
    }

    /// <summary>The answer for a parked (session, request) given the committed queue; not done while it is still queued.</summary>
    private (bool Done, LockGrant? Grant, Exception? Error) Resolve((string Session, Guid Request) key, TQueue committed)
    {
        if (committed.PositionOf(key.Session, key.Request) >= 0)
        {
            return (false, null, null);
        }

        if (committed.GrantOf(key.Session, key.Request) is { } h)
        {
            return (true, h, null);
        }

        if (queue.IsEndedHere(key.Session))
        {
            return (true, null, new SessionExpiredException(key.Session, "it ended while waiting"));
        }

        var end = committed.Finished.Find(f => f.SessionId == key.Session && f.RequestId == key.Request)?.End.ToString() ?? "withdrawn";
        return (true, null, new RequestFinishedException(queue.Name, key.Request, end));
    }
}
