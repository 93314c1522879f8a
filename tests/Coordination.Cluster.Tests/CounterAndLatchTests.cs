using Coordination.Cluster.Tests.Infrastructure;

namespace Coordination.Cluster.Tests;

/// <summary>The atomic counter and the countdown latch through the client.</summary>
public sealed class CounterAndLatchTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Concurrent_adds_from_many_clients_all_count_and_compare_and_set_is_exact()
    {
        var name = $"counter/{Guid.NewGuid():N}";
        var counters = Enumerable.Range(0, 4).Select(_ => Cluster.NewClient().CreateAtomicLong(name)).ToList();
        Assert.Equal(0, await counters[0].GetAsync());
        var results = await Task.WhenAll(counters.Select(c => Task.Run(async () =>
        {
            var seen = new List<long>();
            for (var i = 0; i < 25; i++)
            {
                seen.Add(await c.AddAsync(1));
            }

            return seen;
        })));
        Assert.Equal(100, await counters[1].GetAsync());
        Assert.Equal(Enumerable.Range(1, 100).Select(n => (long)n), results.SelectMany(r => r).Order());

        Assert.False(await counters[2].CompareAndSetAsync(99, 7));
        Assert.True(await counters[2].CompareAndSetAsync(100, long.MaxValue));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => counters[3].AddAsync(1));
        Assert.Equal(long.MaxValue, await counters[3].GetAsync());
    }

    [Fact]
    public async Task A_latch_releases_every_waiter_when_it_reaches_zero_and_not_before()
    {
        var name = $"latch/{Guid.NewGuid():N}";
        var waiters = Enumerable.Range(0, 3).Select(_ => Cluster.NewClient().CreateLatch(name, 3).TryWaitAsync(TimeSpan.FromSeconds(30))).ToList();
        Assert.False(await Cluster.NewClient().CreateLatch(name, 3).TryWaitAsync(TimeSpan.Zero));
        Assert.False(await Cluster.NewClient().CreateLatch(name, 3).TryWaitAsync(TimeSpan.FromMilliseconds(300)));

        var counters = Enumerable.Range(0, 3).Select(_ => Cluster.NewClient().CreateLatch(name, 3)).ToList();
        Assert.Equal(2, (await counters[0].CountDownAsync()).Count);
        Assert.Equal(1, (await counters[1].CountDownAsync()).Count);
        Assert.All(waiters, w => Assert.False(w.IsCompleted, "a waiter was released before the count reached zero"));
        Assert.True((await counters[2].CountDownAsync()).IsReleased);
        Assert.All(await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10)), Assert.True);
        await Cluster.NewClient().CreateLatch(name, 3).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Latch_misuse_is_a_typed_error_that_changes_nothing()
    {
        var name = $"latch/{Guid.NewGuid():N}";
        var latch = Cluster.NewClient().CreateLatch(name, 1);
        Assert.True((await latch.CountDownAsync()).IsReleased);
        await Assert.ThrowsAsync<LatchMisuseException>(() => latch.CountDownAsync());
        await Assert.ThrowsAsync<LatchMisuseException>(() => Cluster.NewClient().CreateLatch(name, 2).CountDownAsync());
        await Assert.ThrowsAsync<LatchMisuseException>(() => Cluster.NewClient().CreateLatch(name, 2).TryWaitAsync(TimeSpan.Zero));
        Assert.Equal(new LatchState(name, 1, 0), await latch.GetStateAsync());
        Assert.Throws<ArgumentOutOfRangeException>(() => Cluster.NewClient().CreateLatch(name, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = latch.TryWaitAsync(TimeSpan.FromSeconds(-2)); });
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => Cluster.Grains.GetGrain<ILatchGrain>(name).CountDown(Guid.NewGuid(), -1));
    }
}
