using Coordination.Grains.Leases;

namespace Coordination.Grains.SharedLocks;

/// <summary>
/// Upgrade calls parked on this silo until the committed state decides them (granted, or withdrawn because the
/// reader left). As <see cref="ParkedWaiters{TQueue}"/> for acquires: a parked call holds no turn of the reentrant
/// grain, waits at most <c>maxPark</c>, then answers with a fresh majority read, and the client calls again.
/// </summary>
internal sealed class UpgradeWaiters(ILeaseQueue<SharedLockRecord> queue, TimeProvider time, TimeSpan maxPark)
{
    private readonly Dictionary<(string Session, Guid Request), TaskCompletionSource<long>> _parked = [];

    /// <summary>Waits up to <paramref name="maxWait"/> (at most <c>maxPark</c>) for the pending upgrade of (session, request) to be granted; 0 if still pending.</summary>
    public async Task<long> ParkAsync(string sessionId, Guid requestId, TimeSpan maxWait)
    {
        var key = (sessionId, requestId);
        if (!_parked.TryGetValue(key, out var parked))
        {
            parked = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            _parked[key] = parked;
        }

        Wake(queue.CommittedQueue);
        try
        {
            return await parked.Task.WaitAsync(maxWait < maxPark ? maxWait : maxPark, time);
        }
        catch (TimeoutException)
        {
            var (done, token) = Resolve(key, await queue.ReadQueueAsync());
            return done ? token : 0;
        }
    }

    /// <summary>After a committed change: answers every parked upgrade it decided.</summary>
    public void Wake(SharedLockRecord committed)
    {
        foreach (var key in _parked.Keys.ToList())
        {
            var tcs = _parked[key];
            try
            {
                var (done, token) = Resolve(key, committed);
                if (!done)
                {
                    continue;
                }

                tcs.TrySetResult(token);
            }
            catch (Exception ex)
            {
                tcs.TrySetException(ex);
            }

            _parked.Remove(key);
        }
    }

    private (bool Done, long Token) Resolve((string Session, Guid Request) key, SharedLockRecord committed) =>
        committed.Upgrade is { } u && u.SessionId == key.Session && u.RequestId == key.Request
            ? (u.IsGranted, u.Token)
            : throw new LockNotHeldException(queue.Name, $"the upgrade of request {key.Request} was withdrawn, or its upgradeable read lock ended");
}
