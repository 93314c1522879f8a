using System.Collections.Concurrent;
using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>The semaphore across a silo's death; each case gets its own cluster, since it destroys a silo.</summary>
public sealed class SharedLockFailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Permits = 2;

    [Fact]
    public async Task Killing_the_silo_hosting_a_semaphore_keeps_its_holders_and_waiter_and_never_grants_more_than_its_permits()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var name = $"failover-semaphore/{Guid.NewGuid():N}";
        var a = cluster.NewClient().CreateSemaphore(name, Permits);
        var first = await a.AcquireAsync(TimeSpan.FromSeconds(10));
        await using var second = await a.AcquireAsync(TimeSpan.FromSeconds(10));
        var waiting = cluster.NewClient().CreateSemaphore(name, Permits).AcquireAsync(TimeSpan.FromSeconds(60)).AsTask();
        await Eventually.Async(async () => (await a.GetInfoAsync()).Waiters.Length == 1, TimeSpan.FromSeconds(10), "the third client queued");

        var grain = cluster.Grains.GetGrain<ISemaphoreGrain>(name);
        var host = await cluster.HostOfAsync(grain);
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        var info = await a.GetInfoAsync();
        Assert.NotEqual(host, await cluster.HostOfAsync(grain));
        Assert.Equal([first.FencingToken, second.FencingToken], info.Holders.Select(h => h.FencingToken).Order());
        Assert.Single(info.Waiters);
        Assert.Null(await cluster.NewClient().CreateSemaphore(name, Permits).TryAcquireAsync(TimeSpan.Zero));
        Assert.False(waiting.IsCompleted);

        await first.DisposeAsync();
        await using var third = await waiting;
        Assert.True(third.FencingToken > second.FencingToken, $"the permit granted after the failover has token {third.FencingToken}, not above {second.FencingToken}");
    }

    [Fact]
    public async Task A_semaphore_never_has_more_live_holders_than_permits_while_its_silo_is_killed_under_load()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var name = $"failover-semaphore-load/{Guid.NewGuid():N}";
        var holders = new ConcurrentDictionary<Guid, CoordinationSemaphoreHandle>();
        var violations = new ConcurrentQueue<string>();
        var tokens = new ConcurrentQueue<long>();
        var failures = new ConcurrentQueue<string>();
        var entries = 0;
        var afterKill = 0;
        var killed = 0;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var semaphore = cluster.NewClient().CreateSemaphore(name, Permits);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var handle = await semaphore.AcquireAsync(TimeSpan.FromSeconds(20), stop.Token);
                    holders[handle.RequestId] = handle;

                    // A holder whose session is lost has stopped (its lost signal fires before anyone else can be granted).
                    var live = holders.Values.Where(h => !h.IsLost).Select(h => h.FencingToken).ToList();
                    if (live.Count > Permits)
                    {
                        violations.Enqueue($"{live.Count} live holders: {string.Join(", ", live)}");
                    }

                    tokens.Enqueue(handle.FencingToken);
                    Interlocked.Increment(ref entries);
                    if (Volatile.Read(ref killed) == 1)
                    {
                        Interlocked.Increment(ref afterKill);
                    }

                    await Task.Delay(10, CancellationToken.None); // allowed: the permit is held a moment (the workload), so holders overlap across the kill.
                    holders.TryRemove(handle.RequestId, out _);
                }
                catch (Exception ex) when (ex is CoordinationException or TimeoutException || (ex is OperationCanceledException && stop.IsCancellationRequested))
                {
                    failures.Enqueue(ex.GetType().Name);
                }
            }
        })).ToList();

        await Eventually.Async(() => Volatile.Read(ref entries) >= 20, TimeSpan.FromSeconds(30), "20 permits taken before the kill");
        var host = await cluster.HostOfAsync(cluster.Grains.GetGrain<ISemaphoreGrain>(name));
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        Volatile.Write(ref killed, 1);
        await Eventually.Async(() => Volatile.Read(ref afterKill) >= 20, TimeSpan.FromSeconds(60), "20 permits taken after the kill");
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        output.WriteLine($"{entries} permits taken, {afterKill} after the kill; failures: {string.Join(", ", failures.GroupBy(f => f).Select(g => $"{g.Key} x{g.Count()}"))}");
        Assert.True(violations.IsEmpty, string.Join("; ", violations));
        Assert.Equal(tokens.Count, tokens.Distinct().Count());
    }
}
