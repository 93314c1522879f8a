using System.Collections.Concurrent;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>Values and latches across the kill of the silo hosting their grain (each case on a cluster of its own).</summary>
public sealed class ValueFailoverTests
{
    /// <summary>How far the writer may run ahead of the watcher.</summary>
    private const int WatcherLead = 64;

    [Fact]
    public async Task A_watch_sees_every_revision_once_and_in_order_across_a_silo_kill_and_an_ephemeral_value_stays()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var name = $"failover-value/{Guid.NewGuid():N}";
        var client = cluster.NewClient();
        var value = client.CreateValue(name);
        var written = new ConcurrentQueue<(long Revision, string Value)>();
        var first = await value.SetEphemeralAsync("v0", 0);
        written.Enqueue((first.Current.Revision, "v0"));

        using var stop = new CancellationTokenSource();
        var seen = new ConcurrentQueue<ValueEvent>();
        var watcher = ValueTests.Watch(cluster.NewClient().CreateValue(name), first.Current.Revision - 1, seen, stop.Token);
        using var stopWriting = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 1; !stopWriting.IsCancellationRequested; i++)
            {
                // The watcher is kept within half the retained history (128 revisions): one that falls further behind
                // gets a Resync instead of every revision, by design (a full run saw it 146 behind after the kill).
                if (written.Count - seen.Count >= WatcherLead)
                {
                    await Eventually.Async(() => written.Count - seen.Count < WatcherLead, TimeSpan.FromSeconds(30), "the watcher to catch up with the writer");
                }

                var result = await value.SetEphemeralAsync($"v{i}");
                written.Enqueue((result.Current.Revision, $"v{i}"));
            }
        });
        await Eventually.Async(() => seen.Count >= 5, TimeSpan.FromSeconds(10), "the watcher to see the first writes");

        var grain = cluster.Grains.GetGrain<IValueGrain>(name);
        var host = await cluster.HostOfAsync(grain);
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        var countAtKill = written.Count;
        await Eventually.Async(() => written.Count >= countAtKill + 5, TimeSpan.FromSeconds(20), "writes to go on after the failover");
        await stopWriting.CancelAsync();
        await writer;
        Assert.NotEqual(host, await cluster.HostOfAsync(grain));

        var last = written.Last();
        await Eventually.Async(() => seen.LastOrDefault()?.Revision == last.Revision, TimeSpan.FromSeconds(20), $"the watcher to reach revision {last.Revision}");
        await stop.CancelAsync();
        await watcher;
        Assert.Equal(written.Select(w => w.Revision), seen.Select(e => e.Revision));
        Assert.Equal(written.Select(w => w.Value), seen.Select(e => e.Value));
        Assert.All(seen, e => Assert.Equal(ValueEventKind.Set, e.Kind));
        var now = await value.GetAsync();
        Assert.Equal((last.Value, last.Revision), (now.Value, now.Revision));
        Assert.NotNull(now.SessionTag);
    }

    [Fact]
    public async Task A_waiter_parked_on_a_latch_whose_silo_dies_is_released_when_the_count_reaches_zero()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var name = $"failover-latch/{Guid.NewGuid():N}";
        var latch = cluster.NewClient().CreateLatch(name, 2);
        Assert.Equal(1, (await latch.CountDownAsync()).Count);
        var waiter = cluster.NewClient().CreateLatch(name, 2).TryWaitAsync(TimeSpan.FromSeconds(60));

        var grain = cluster.Grains.GetGrain<ILatchGrain>(name);
        var host = await cluster.HostOfAsync(grain);
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        Assert.False(waiter.IsCompleted, "the waiter returned when its silo died");
        Assert.Equal(1, (await latch.GetStateAsync()).Count);
        Assert.True((await cluster.NewClient().CreateLatch(name, 2).CountDownAsync()).IsReleased);
        Assert.True(await waiter.WaitAsync(TimeSpan.FromSeconds(15)), "the waiter was not released");
    }
}
