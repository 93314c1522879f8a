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

    /// <summary>Operators page through counters (those not at zero) and latches (counting or released) by name prefix, each read through a majority.</summary>
    [Fact]
    public async Task Counters_and_latches_are_listed_by_prefix_with_their_values_and_counts()
    {
        var root = $"listed/{Guid.NewGuid():N}/";
        var client = Cluster.NewClient();
        await client.CreateAtomicLong($"{root}counter/a").AddAsync(5);
        var b = await client.CreateAtomicLong($"{root}counter/b").AddAsync(-2);
        await client.CreateAtomicLong($"{root}counter/c").AddAsync(3);
        await client.CreateAtomicLong($"{root}counter/c").AddAsync(-3); // back at zero: the same as never set, left out
        await client.CreateLatch($"{root}latch/counting", 3).CountDownAsync();
        var released = client.CreateLatch($"{root}latch/released", 1);
        await released.CountDownAsync();
        var listing = Cluster.Grains.GetGrain<IClusterListingGrain>(0);

        var counters = new List<CounterEntry>();
        string? after = null;
        do
        {
            var page = await listing.FindCounters($"{root}counter/", after, 1);
            Assert.True(page.Counters.Length <= 1, $"a page of 1 held {page.Counters.Length}");
            counters.AddRange(page.Counters);
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal([($"{root}counter/a", 5L), ($"{root}counter/b", b)], counters.Select(c => (c.Name, c.Value)));
        Assert.All(counters, c => Assert.True(c.Revision > 0, $"{c.Name} at revision {c.Revision}"));

        var latches = await listing.FindLatches($"{root}latch/", null, 10);
        Assert.Equal([($"{root}latch/counting", 3, 2), ($"{root}latch/released", 1, 0)], latches.Latches.Select(l => (l.Name, l.InitialCount, l.Count)));
        Assert.Empty((await listing.FindLatches($"{root}counter/", null, 10)).Latches);
        Assert.Empty((await listing.FindCounters($"{root}latch/", null, 10)).Counters);
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.FindCounters("bad\u0001prefix", null, 10));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.FindLatches(root, null, 0));
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
