using Coordination.TestKit;

namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>A session opened through the grain interfaces, kept alive by a background loop until stopped.</summary>
public sealed class TestSession : IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    private TestSession(IGrainFactory grains, SessionInfo info)
    {
        _grains = grains;
        Info = info;
    }

    public SessionInfo Info { get; }

    public string Id => Info.SessionId;

    /// <summary>When the last keepalive that was acknowledged was sent (UTC), for the never-early check.</summary>
    public DateTime LastAckedSend { get; private set; } = DateTime.UtcNow;

    public int KeepAlivesFailed { get; private set; }

    public ISessionGrain Grain => _grains.GetGrain<ISessionGrain>(Id);

    public static async Task<TestSession> OpenAsync(IGrainFactory grains, TimeSpan? ttl = null, bool keepAlive = true)
    {
        var info = await Eventually.Retry(() => grains.GetGrain<ISessionManagerGrain>(0).Open(ttl ?? CoordinationCluster.Ttl), TimeSpan.FromSeconds(10), "open a session");
        var session = new TestSession(grains, info);
        if (keepAlive)
        {
            session._loop = session.KeepAliveLoopAsync(session._stop.Token);
        }

        return session;
    }

    /// <summary>Stops keeping the session alive, as a crashed client would.</summary>
    public async Task StopKeepAliveAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }

    /// <summary>
    /// Keeps the session alive as the client library does: a keepalive every sixth of the TTL, each abandoned
    /// after a third of it. A keepalive in flight to a silo a test kills may get no answer until Orleans' 30 s
    /// response timeout; waiting for it would let the session expire although its client is alive.
    /// </summary>
    private async Task KeepAliveLoopAsync(CancellationToken token)
    {
        var interval = Info.Ttl / 6;
        while (!token.IsCancellationRequested)
        {
            var sent = DateTime.UtcNow;
            try
            {
                await Grain.KeepAlive(0).WaitAsync(Info.Ttl / 3);
                LastAckedSend = sent;
            }
            catch (Exception)
            {
                // Counted while the loop runs; once stopping, a keepalive still in flight may fail: that is not the
                // test's failure.
                if (!token.IsCancellationRequested)
                {
                    KeepAlivesFailed++;
                }
            }

            try
            {
                await Task.Delay(interval, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopKeepAliveAsync();
        _stop.Dispose();
    }
}

/// <summary>Lock calls through the grain interface, with the retries a client library makes (same request id).</summary>
public static class LockCalls
{
    public static ILockGrain Lock(this IGrainFactory grains, string name) => grains.GetGrain<ILockGrain>(name);

    /// <summary>How long one acquire call may stay parked on the silo; the caller gives up on a call a little after it.</summary>
    private static readonly TimeSpan Park = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Acquires, re-calling with the same request id while queued or while the cluster is failing over.
    /// A parked call whose silo died is never answered (Orleans would wait for its 30 s response timeout),
    /// so each call is abandoned shortly after its park time and simply made again.
    /// </summary>
    public static Task<long> AcquireAsync(this IGrainFactory grains, string name, string session, Guid requestId, TimeSpan timeout, string? owner = null, TimeSpan lockDelay = default) =>
        UntilGrantedAsync(
            park => grains.Lock(name).Acquire(new AcquireRequest(session, requestId, AcquireMode.Wait, park, owner, lockDelay, Sequence: RequestNumbers.Of(session, requestId))),
            timeout,
            $"Lock '{name}' was not granted to request {requestId} within {timeout}.");

    /// <summary>Calls <paramref name="call"/> (one parked attempt, given its park time) under the same request id until it is granted; returns the token.</summary>
    public static async Task<long> UntilGrantedAsync(Func<TimeSpan, Task<AcquireResult>> call, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException(failure);
            }

            try
            {
                var park = remaining < Park ? remaining : Park;
                var result = await call(park).WaitAsync(park + TimeSpan.FromSeconds(1));
                if (result.Status == AcquireStatus.Granted)
                {
                    return result.FencingToken;
                }
            }
            catch (Exception ex) when (ex is QuorumUnavailableException or SiloUnavailableException or TimeoutException or OrleansMessageRejectionException)
            {
                // Failing over: call again with the same request id, which keeps our grant or our place.
            }
        }
    }

    public static Task<ReleaseOutcome> ReleaseAsync(this IGrainFactory grains, string name, string session, Guid requestId, long token) =>
        Eventually.Retry(() => grains.Lock(name).Release(new ReleaseRequest(session, requestId, token)), TimeSpan.FromSeconds(20), $"release {name}");

    public static Task<LockInfo> InfoAsync(this IGrainFactory grains, string name) =>
        Eventually.Retry(() => grains.Lock(name).GetInfo(), TimeSpan.FromSeconds(20), $"read {name}");

    /// <summary>Waits until <paramref name="count"/> acquires are queued on the lock (<paramref name="who"/> says whose, for the failure message).</summary>
    public static Task WaitForWaitersAsync(this IGrainFactory grains, string name, int count, string who) =>
        Eventually.Async(async () => (await grains.InfoAsync(name)).Waiters.Length == count, TimeSpan.FromSeconds(10), who);
}
