using Coordination.Grains.Leases;
using Coordination.Replication.Protocol;
using Coordination.TestKit.Simulation;

namespace Coordination.Simulation.Tests.Sim;

/// <summary>A grant as a client saw it: from the moment it learned it holds the lock until it sent its release.</summary>
internal sealed record HeldGrant(string Client, Guid Request, long Token, long AckedAt)
{
    public long ReleasedAt { get; set; } = long.MaxValue;
}

/// <summary>
/// Clients that acquire, hold for a while and release one lock, each operation through a randomly
/// chosen proposer (as duplicate activations or retries on another silo would), retrying failed
/// operations with the same request id. The history of what clients were told is checked afterwards.
/// </summary>
/// <param name="deleteWhenIdle">
/// Run every change as the lock grain does in the register lifecycle: an absent register is a fresh lock
/// above the partition's token floor, and a lock nobody holds or waits for is deleted.
/// </param>
internal sealed class LockWorkload(SimCluster cluster, IReadOnlyList<RegisterProposer<LockRecord>> proposers, bool deleteWhenIdle = false)
{
    private readonly SimKernel _sim = cluster.Sim;

    public List<HeldGrant> Grants { get; } = [];

    public int Failures { get; private set; }

    public Task RunClients(int clients, TimeSpan duration)
    {
        var deadline = _sim.Now + duration.Ticks;
        return Task.WhenAll(Enumerable.Range(1, clients).Select(c => _sim.Start(() => ClientAsync($"s{c}", deadline))));
    }

    public async Task<T> Execute<T>(RegisterChange<LockRecord, T> change)
    {
        var proposer = proposers[_sim.Random.Next(proposers.Count)];
        return await proposer.ExecuteAsync(deleteWhenIdle ? WithLifecycle(change) : change);
    }

    /// <summary>A change as the lock grain runs it in the register lifecycle: an absent register is a fresh lock above the token floor; an idle one is deleted.</summary>
    public static RegisterChange<LockRecord, T> WithLifecycle<T>(RegisterChange<LockRecord, T> change) => (current, context) =>
    {
        var (next, result) = change(current ?? LockRecord.Fresh(context.TokenFloor), context);
        return (next is { IsIdle: true } ? null : next, result);
    };

    private async Task ClientAsync(string session, long deadline)
    {
        while (_sim.Now < deadline)
        {
            var request = new LockRequest(session, NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
            var token = await AcquireAsync(request, deadline);
            if (token is null)
            {
                await RetryAsync(() => Execute((s, c) => LockStateMachine.Cancel(s, session, request.RequestId, c.TokenEpoch)), deadline + TimeSpan.TicksPerSecond);
                return;
            }

            var grant = new HeldGrant(session, request.RequestId, token.Value, _sim.Now);
            Grants.Add(grant);
            await Pause(0, 8);
            grant.ReleasedAt = _sim.Now;
            await RetryAsync(() => Execute((s, c) => LockStateMachine.Release(s, "L", session, request.RequestId, token.Value, c.TokenEpoch)), deadline + TimeSpan.TicksPerSecond);
            await Pause(0, 3);
        }
    }

    private async Task<long?> AcquireAsync(LockRequest request, long deadline)
    {
        while (_sim.Now < deadline)
        {
            try
            {
                var decision = await Execute((s, c) => LockStateMachine.Acquire(s, request, AcquireMode.Wait, c.TokenEpoch));
                if (decision.Status == AcquireStatus.Granted)
                {
                    return decision.Token;
                }

                if (decision.FinishedAs is { } end)
                {
                    throw new InvalidOperationException($"request of {request.SessionId} finished as {end} before it was granted");
                }
            }
            catch (CoordinationException)
            {
                Failures++;
            }

            await Pause(1, 4);
        }

        return null;
    }

    private async Task RetryAsync<T>(Func<Task<T>> operation, long deadline)
    {
        while (_sim.Now < deadline)
        {
            try
            {
                await operation();
                return;
            }
            catch (CoordinationException)
            {
                Failures++;
                await Pause(1, 4);
            }
        }
    }

    private Task Pause(int minMs, int maxMs) =>
        Task.Delay(TimeSpan.FromMicroseconds(_sim.Random.Next(minMs * 1000, maxMs * 1000 + 1)), _sim.Clock);

    private Guid NewGuid()
    {
        Span<byte> bytes = stackalloc byte[16];
        _sim.Random.NextBytes(bytes);
        return new Guid(bytes);
    }
}

/// <summary>Checks what clients were told: no two grants held at once, and tokens strictly increasing in grant order.</summary>
internal static class GrantChecker
{
    public static List<string> Check(IEnumerable<HeldGrant> history)
    {
        var violations = new List<string>();
        var grants = history.GroupBy(g => (g.Client, g.Request)).Select(g => g.First()).OrderBy(g => g.AckedAt).ToList();
        for (var i = 1; i < grants.Count; i++)
        {
            var prev = grants[i - 1];
            var cur = grants[i];
            if (cur.AckedAt < prev.ReleasedAt)
            {
                violations.Add($"double grant: {cur.Client} was granted token {cur.Token} at {Ms(cur.AckedAt)} while {prev.Client} held token {prev.Token} (granted {Ms(prev.AckedAt)}, released {Ms(prev.ReleasedAt)})");
            }

            if (cur.Token <= prev.Token)
            {
                violations.Add($"token went backwards: {cur.Client} got {cur.Token} at {Ms(cur.AckedAt)} after {prev.Client} got {prev.Token}");
            }
        }

        return violations;
    }

    private static string Ms(long ticks) => ticks == long.MaxValue ? "never" : $"{ticks / 10_000.0:0.000} ms";
}
