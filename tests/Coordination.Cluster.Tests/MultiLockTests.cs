using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Medallion.Threading;

namespace Coordination.Cluster.Tests;

/// <summary>
/// The lock contract suite run on multi-locks: each "lock" of the suite is the set {name, name/z}, given out of
/// canonical order, so every check the suite makes of a lock (exclusion, timeouts, cancellation leaving no waiter,
/// the lost token on a revoke, argument errors at the call, disposed and dropped handles) holds for the set.
/// </summary>
public sealed class MultiLockContractTests(ClusterFixture fixture) : LockContractTests(fixture)
{
    protected override ILockApi NewApi() => new Api(Cluster.NewClient());

    private sealed class Api(CoordinationClient client) : ILockApi
    {
        private static string[] Set(string name) => [name + "/z", name];

        public async Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            await client.CreateMultiLock(Set(name)).TryAcquireAsync(timeout, cancellationToken);

        public async Task<IAsyncDisposable> AcquireAsync(string name, TimeSpan? timeout, CancellationToken cancellationToken = default) =>
            await client.CreateMultiLock(Set(name)).AcquireAsync(timeout, cancellationToken);

        public void StartTryAcquire(string name, TimeSpan timeout) => _ = client.CreateMultiLock(Set(name)).TryAcquireAsync(timeout);

        public void StartAcquire(string name, TimeSpan? timeout) => _ = client.CreateMultiLock(Set(name)).AcquireAsync(timeout);

        public IAsyncDisposable? TryAcquire(string name, TimeSpan timeout) => client.CreateMultiLock(Set(name)).TryAcquire(timeout);

        public IAsyncDisposable Acquire(string name, TimeSpan? timeout) => client.CreateMultiLock(Set(name)).Acquire(timeout);

        public CancellationToken LostToken(IAsyncDisposable handle) => ((CoordinationMultiLockHandle)handle).HandleLostToken;
    }
}

/// <summary>What only a set shows: all or nothing, one order for every set, partial sets given back, one lost signal for all.</summary>
public sealed class MultiLockTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private static string[] NewNames(int count)
    {
        var prefix = $"multi/{Guid.NewGuid():N}";
        return [.. Enumerable.Range(0, count).Select(i => $"{prefix}/{i}")];
    }

    private async Task<bool> IsFreeAsync(string name)
    {
        var info = await Cluster.Grains.InfoAsync(name);
        return info.Holder is null && info.Waiters.IsEmpty;
    }

    [Fact]
    public async Task Takes_every_lock_in_canonical_order_with_each_token_and_releases_them_together()
    {
        var names = NewNames(3);
        var a = Cluster.NewClient();
        var b = Cluster.NewClient();
        var multi = a.CreateMultiLock([names[2], names[0], names[1], names[0]]);
        Assert.Equal(names, multi.Names);

        var handle = await multi.AcquireAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(names, handle.Names);
        foreach (var name in names)
        {
            Assert.Equal((await Cluster.Grains.InfoAsync(name)).Holder!.FencingToken, handle.FencingTokens[name]);
            Assert.Null(await b.CreateLock(name).TryAcquireAsync(TimeSpan.Zero));
        }

        await handle.DisposeAsync();
        await handle.DisposeAsync();
        foreach (var name in names)
        {
            Assert.True(await IsFreeAsync(name), $"{name} is free once the set was released");
        }
    }

    /// <summary>
    /// Three clients take overlapping sets, given in opposite orders, over and over, each with a timeout far above
    /// any honest wait: taken in the caller's order, two of them would soon hold one lock each and wait for the other's
    /// (until the timeout, which fails the test). Per lock, never two holders at once.
    /// </summary>
    [Fact]
    public async Task Overlapping_sets_in_opposite_orders_never_deadlock_and_never_share_a_lock()
    {
        var names = NewNames(3);
        string[][] sets = [[names[0], names[1], names[2]], [names[2], names[1], names[0]], [names[2], names[0]]];
        var inside = new int[names.Length];
        var overlaps = 0;
        var rounds = 0;
        var work = sets.Select(set => Task.Run(async () =>
        {
            var multi = Cluster.NewClient().CreateMultiLock(set);
            var mine = set.Select(n => Array.IndexOf(names, n)).ToArray();
            for (var round = 0; round < 12; round++)
            {
                await using var held = await multi.AcquireAsync(TimeSpan.FromSeconds(20));
                foreach (var i in mine)
                {
                    if (Interlocked.Increment(ref inside[i]) > 1)
                    {
                        Interlocked.Increment(ref overlaps);
                    }
                }

                await Task.Yield();
                foreach (var i in mine)
                {
                    Interlocked.Decrement(ref inside[i]);
                }

                Interlocked.Increment(ref rounds);
            }
        })).ToArray();

        var all = Task.WhenAll(work);
        try
        {
            await all.WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException) when (!all.IsCompleted)
        {
            Assert.Fail($"Expected within 90 s: the three clients' 36 rounds on overlapping sets; {Volatile.Read(ref rounds)} completed (a deadlock?)");
        }

        Assert.Equal(0, overlaps);
        Assert.Equal(36, rounds);
    }

    [Fact]
    public async Task A_set_not_had_in_time_gives_back_what_it_took_and_leaves_no_waiter()
    {
        var names = NewNames(3);
        var a = Cluster.NewClient();
        var b = Cluster.NewClient();
        await using var middle = await b.CreateLock(names[1]).AcquireAsync(TimeSpan.FromSeconds(10));

        Assert.Null(await a.CreateMultiLock(names).TryAcquireAsync(TimeSpan.FromMilliseconds(500)));
        Assert.True(await IsFreeAsync(names[0]), "the first lock, taken before the timeout, was given back");
        Assert.Empty((await Cluster.Grains.InfoAsync(names[1])).Waiters);
        Assert.True(await IsFreeAsync(names[2]), "the last lock was never taken");

        await Assert.ThrowsAsync<TimeoutException>(async () => await a.CreateMultiLock(names).AcquireAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Null(await a.CreateMultiLock(names).TryAcquireAsync(TimeSpan.Zero));
        Assert.True(await IsFreeAsync(names[0]), "the first lock was given back after the timeout and the zero-timeout try");
        Assert.Empty((await Cluster.Grains.InfoAsync(names[1])).Waiters);

        await using var c = await Cluster.NewClient().CreateLock(names[0]).TryAcquireAsync(TimeSpan.Zero);
        Assert.NotNull(c);
    }

    [Fact]
    public async Task A_cancelled_set_gives_back_what_it_took_and_leaves_no_waiter()
    {
        var names = NewNames(3);
        var a = Cluster.NewClient();
        var b = Cluster.NewClient();
        await using var middle = await b.CreateLock(names[1]).AcquireAsync(TimeSpan.FromSeconds(10));

        using var cts = new CancellationTokenSource();
        var wait = a.CreateMultiLock(names).AcquireAsync(cancellationToken: cts.Token).AsTask();
        await Cluster.Grains.WaitForWaitersAsync(names[1], 1, "the set's acquire queued on its second lock");
        Assert.NotNull((await Cluster.Grains.InfoAsync(names[0])).Holder);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.True(await IsFreeAsync(names[0]), "the first lock was given back on cancellation");
        Assert.Empty((await Cluster.Grains.InfoAsync(names[1])).Waiters);
    }

    [Fact]
    public async Task A_member_revoked_while_the_rest_are_awaited_is_never_handed_out_lost_the_set_starts_again()
    {
        var names = NewNames(2);
        var other = Cluster.NewClient();
        var blocker = await other.CreateLock(names[1]).AcquireAsync(TimeSpan.FromSeconds(10));
        await using var session = await Cluster.NewClient().OpenSessionAsync();
        var sentinel = await session.CreateLock(names[0] + "-sentinel").AcquireAsync(TimeSpan.FromSeconds(10));
        var acquiring = session.CreateMultiLock(names).AcquireAsync(TimeSpan.FromSeconds(60));
        await Eventually.Async(async () => !(await Cluster.Grains.InfoAsync(names[1])).Waiters.IsEmpty, TimeSpan.FromSeconds(10), "the set to hold its first member and wait for the second");
        var revokedToken = (await Cluster.Grains.InfoAsync(names[0])).Holder!.FencingToken;

        // The first member is revoked while the set waits; the sentinel's revoke reaches the client in the same or a
        // later keepalive, after the member's (notices are delivered in order), so once it fired the set's member knows.
        await other.RevokeLockAsync(names[0], "revoked mid-set");
        await other.RevokeLockAsync(sentinel.LockName, "marks that the notices reached the client");
        await Eventually.Async(() => sentinel.HandleLostToken.IsCancellationRequested, TimeSpan.FromSeconds(10), "the revoke notices to reach the set's client");
        await blocker.DisposeAsync();

        await using var handle = await acquiring;
        Assert.False(handle.IsLost, "the set must not be handed out with a member already lost");
        Assert.True(handle.FencingTokens[names[0]] > revokedToken, "the first member was taken again, with a higher token");
        foreach (var name in names)
        {
            Assert.Equal(session.Tag, (await Cluster.Grains.InfoAsync(name)).Holder?.SessionTag);
        }
    }

    [Fact]
    public async Task Losing_one_member_fires_the_sets_lost_token_and_disposal_still_frees_the_rest()
    {
        var names = NewNames(3);
        var a = Cluster.NewClient();
        var handle = await a.CreateMultiLock(names).AcquireAsync(TimeSpan.FromSeconds(10));
        var lost = handle.HandleLostToken;
        Assert.False(handle.IsLost);

        await a.RevokeLockAsync(names[1], "multi-lock test");
        await Eventually.Async(() => lost.IsCancellationRequested, TimeSpan.FromSeconds(10), "the set's lost token to fire when one of its locks was revoked");
        Assert.True(handle.IsLost);
        Assert.Equal("multi-lock test", handle.RevokedReason);
        Assert.NotNull((await Cluster.Grains.InfoAsync(names[0])).Holder);

        await handle.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => handle.HandleLostToken);
        Assert.True(await IsFreeAsync(names[0]), "the members not revoked are released with the set");
        Assert.True(await IsFreeAsync(names[2]), "the members not revoked are released with the set");
    }

    [Fact]
    public async Task The_lost_token_fires_when_the_session_ends()
    {
        var session = await Cluster.NewClient().OpenSessionAsync();
        var handle = await session.CreateMultiLock(NewNames(2)).AcquireAsync(TimeSpan.FromSeconds(10));
        var lost = handle.HandleLostToken;
        await session.CloseAsync();
        await Eventually.Async(() => lost.IsCancellationRequested, TimeSpan.FromSeconds(10), "the set's lost token to fire when its session closed");
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task Bad_sets_are_refused_at_the_call_and_take_nothing()
    {
        var client = Cluster.NewClient();
        var good = NewNames(1)[0];
        Assert.Throws<ArgumentNullException>(() => client.CreateMultiLock(null!));
        Assert.Throws<CoordinationArgumentException>(() => client.CreateMultiLock([]));
        var badName = Assert.Throws<InvalidNameException>(() => client.CreateMultiLock([good, "bad\nname"]));
        Assert.Equal("names[1]", badName.Argument);
        Assert.Throws<InvalidNameException>(() => client.CreateMultiLock([good, null!]));
        Assert.Throws<InvalidNameException>(() => client.CreateMultiLock([good, ""]));
        Assert.Throws<CoordinationArgumentException>(() => client.CreateMultiLock(NewNames(CoordinationMultiLock.MaxLocks + 1)));
        Assert.Equal(CoordinationMultiLock.MaxLocks, client.CreateMultiLock(NewNames(CoordinationMultiLock.MaxLocks)).Names.Count);
        Assert.Single(client.CreateMultiLock(Enumerable.Repeat(good, CoordinationMultiLock.MaxLocks + 1)).Names);
        Assert.True(await IsFreeAsync(good), "a refused set took nothing");
    }

    [Fact]
    public async Task Through_DistributedLock_Core_it_stands_in_for_one_lock()
    {
        var names = NewNames(2);
        IDistributedLock set = Cluster.NewClient().CreateMultiLock(names);
        await using (var handle = await set.AcquireAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.False(handle.HandleLostToken.IsCancellationRequested);
            Assert.Null(await Cluster.NewClient().CreateLock(names[1]).TryAcquireAsync(TimeSpan.Zero));
        }

        Assert.True(await IsFreeAsync(names[1]), "released through the interface");
    }
}
