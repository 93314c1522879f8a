using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Medallion.Threading;

namespace Coordination.Cluster.Tests;

/// <summary>The semaphore under test, seen through one API; each instance is a separate client with its own session.</summary>
public interface ISemaphoreApi
{
    ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(string name, int maxCount, TimeSpan timeout, CancellationToken cancellationToken = default);

    ValueTask<IDistributedSynchronizationHandle> AcquireAsync(string name, int maxCount, TimeSpan? timeout, CancellationToken cancellationToken = default);

    /// <summary>Ends the client's session, as a client that goes away does.</summary>
    Task LoseSessionAsync();
}

/// <summary>
/// DistributedLock's semaphore semantics, run through every way an application can hold our semaphores: at most
/// N holders, timeouts, cancellation, the lost token, idempotent disposal and argument errors at the call.
/// </summary>
public abstract class SemaphoreContractTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    protected CoordinationCluster Cluster => fixture.Cluster;

    protected abstract ISemaphoreApi NewApi();

    protected static string NewName() => $"contract-semaphore/{Guid.NewGuid():N}";

    protected Task<SharedLockInfo> InfoAsync(string name) =>
        Eventually.Retry(() => Cluster.Grains.GetGrain<ISemaphoreGrain>(name).GetInfo(), TimeSpan.FromSeconds(20), $"read semaphore {name}");

    [Fact]
    public async Task At_most_max_count_holders_at_a_time()
    {
        var name = NewName();
        var apis = Enumerable.Range(0, 5).Select(_ => NewApi()).ToList();
        var inside = 0;
        var maxInside = 0;
        var entries = 0;
        await Task.WhenAll(apis.Select(api => Task.Run(async () =>
        {
            for (var i = 0; i < 8; i++)
            {
                await using var handle = await api.AcquireAsync(name, 2, TimeSpan.FromSeconds(30));
                Contracts.InterlockedMax(ref maxInside, Interlocked.Increment(ref inside));
                Interlocked.Increment(ref entries);
                await Task.Delay(5); // allowed: the permit is held a moment (the workload), so holders overlap; nothing waits for a state here.
                Interlocked.Decrement(ref inside);
            }
        })));
        Assert.Equal(2, maxInside);
        Assert.Equal(40, entries);
    }

    [Fact]
    public async Task Try_acquire_returns_null_when_every_permit_is_held_and_a_handle_once_one_frees()
    {
        var name = NewName();
        var a = NewApi();
        var b = NewApi();
        var first = await a.AcquireAsync(name, 2, TimeSpan.FromSeconds(10));
        await using var second = await a.AcquireAsync(name, 2, TimeSpan.FromSeconds(10));
        Assert.Null(await b.TryAcquireAsync(name, 2, TimeSpan.Zero));
        Assert.Null(await b.TryAcquireAsync(name, 2, TimeSpan.FromMilliseconds(300)));
        await first.DisposeAsync();
        await using var mine = await b.TryAcquireAsync(name, 2, TimeSpan.Zero);
        Assert.NotNull(mine);
    }

    [Fact]
    public async Task Acquire_times_out_with_TimeoutException_and_a_cancelled_wait_throws_both_leaving_no_waiter()
    {
        var name = NewName();
        var a = NewApi();
        var b = NewApi();
        await using var held = await a.AcquireAsync(name, 1, TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<TimeoutException>(async () => await b.AcquireAsync(name, 1, TimeSpan.FromMilliseconds(500)));
        Assert.Empty((await InfoAsync(name)).Waiters);

        using var cts = new CancellationTokenSource();
        var wait = b.AcquireAsync(name, 1, null, cts.Token).AsTask();
        await Eventually.Async(async () => (await InfoAsync(name)).Waiters.Length == 1, TimeSpan.FromSeconds(10), "the second client queued");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Empty((await InfoAsync(name)).Waiters);
    }

    [Fact]
    public async Task A_waiter_gets_the_permit_when_a_holder_disposes_and_disposing_twice_is_harmless()
    {
        var name = NewName();
        var a = NewApi();
        var b = NewApi();
        var held = await a.AcquireAsync(name, 1, TimeSpan.FromSeconds(10));
        var wait = b.AcquireAsync(name, 1, TimeSpan.FromSeconds(30)).AsTask();
        await Eventually.Async(async () => (await InfoAsync(name)).Waiters.Length == 1, TimeSpan.FromSeconds(10), "the second client queued");
        await held.DisposeAsync();
        await held.DisposeAsync();
        await using var next = await wait;
        Assert.Single((await InfoAsync(name)).Holders);
    }

    [Fact]
    public async Task The_lost_token_fires_when_the_session_ends_and_a_disposed_handle_refuses_it()
    {
        var name = NewName();
        var a = NewApi();
        var held = await a.AcquireAsync(name, 3, TimeSpan.FromSeconds(10));
        var lost = held.HandleLostToken;
        Assert.False(lost.IsCancellationRequested);
        await a.LoseSessionAsync();
        await Eventually.Async(() => lost.IsCancellationRequested, TimeSpan.FromSeconds(10), "the handle's lost token to fire when its session ended");
        await Eventually.Async(async () => (await InfoAsync(name)).Holders.IsEmpty, TimeSpan.FromSeconds(10), "the permit to return when its session ended");
        await held.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => held.HandleLostToken);
    }

    [Fact]
    public async Task A_permit_dropped_without_disposal_returns_once_collected_and_fires_the_lost_token_left_behind_first()
    {
        var name = NewName();
        var a = NewApi();
        var b = NewApi();
        var lost = await AcquireAndKeepOnlyTheLostTokenAsync(a, name);
        await using var next = await Contracts.AcquireAfterCollectingAsync(
            () => b.TryAcquireAsync(name, 1, TimeSpan.FromMilliseconds(200)).AsTask(),
            "another client to get the permit after the dropped handle was collected");
        Assert.True(lost.IsCancellationRequested, "the first holder still watches a lost token that never fired, while another client holds the permit");
    }

    [Fact]
    public async Task Another_count_for_a_semaphore_in_use_is_a_typed_error_that_changes_nothing()
    {
        var name = NewName();
        var a = NewApi();
        var b = NewApi();
        await using var held = await a.AcquireAsync(name, 2, TimeSpan.FromSeconds(10));
        var error = await Assert.ThrowsAsync<SemaphoreCountMismatchException>(async () => await b.AcquireAsync(name, 3, TimeSpan.FromSeconds(5)));
        Assert.Equal(2, error.MaxCount);
        var info = await InfoAsync(name);
        Assert.Equal(2, info.MaxCount);
        Assert.Single(info.Holders);
        Assert.Empty(info.Waiters);
    }

    [Fact]
    public void Bad_names_counts_and_timeouts_are_refused_at_the_call()
    {
        var a = NewApi();
        Assert.Throws<InvalidNameException>(() => { _ = a.AcquireAsync("", 1, TimeSpan.FromSeconds(1)); });
        Assert.Throws<InvalidNameException>(() => { _ = a.AcquireAsync("bad\nname", 1, TimeSpan.FromSeconds(1)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = a.AcquireAsync(NewName(), 0, TimeSpan.FromSeconds(1)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = a.AcquireAsync(NewName(), SemaphoreLimits.MaxPermits + 1, TimeSpan.FromSeconds(1)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = a.TryAcquireAsync(NewName(), 1, TimeSpan.FromSeconds(-2)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = a.TryAcquireAsync(NewName(), 1, TimeSpan.FromSeconds(int.MaxValue)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = a.AcquireAsync(NewName(), 1, TimeSpan.FromMilliseconds(-2)); });
    }

    // Not inlined, so that no local of the caller's frame keeps the handle reachable.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<CancellationToken> AcquireAndKeepOnlyTheLostTokenAsync(ISemaphoreApi api, string name) =>
        (await api.AcquireAsync(name, 1, TimeSpan.FromSeconds(10))).HandleLostToken;
}

/// <summary>The semaphore suite through our own API, plus what only it shows: fencing tokens.</summary>
public sealed class CoordinationSemaphoreContractTests(ClusterFixture fixture) : SemaphoreContractTests(fixture)
{
    protected override ISemaphoreApi NewApi() => new Api(Cluster.NewClient());

    [Fact]
    public async Task Every_permit_carries_a_fencing_token_above_every_earlier_one()
    {
        var client = Cluster.NewClient();
        var semaphore = client.CreateSemaphore(NewName(), 2);
        var tokens = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            await using var a = await semaphore.AcquireAsync(TimeSpan.FromSeconds(10));
            await using var b = await semaphore.AcquireAsync(TimeSpan.FromSeconds(10));
            tokens.Add(a.FencingToken);
            tokens.Add(b.FencingToken);
        }

        Assert.Equal(tokens.Order().Distinct(), tokens);
    }

    private sealed class Api(CoordinationClient client) : ISemaphoreApi
    {
        public ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(string name, int maxCount, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            Contracts.UpcastOrNull(client.CreateSemaphore(name, maxCount).TryAcquireAsync(timeout, cancellationToken));

        public ValueTask<IDistributedSynchronizationHandle> AcquireAsync(string name, int maxCount, TimeSpan? timeout, CancellationToken cancellationToken = default) =>
            Contracts.Upcast(client.CreateSemaphore(name, maxCount).AcquireAsync(timeout, cancellationToken));

        public Task LoseSessionAsync() => client.CloseAsync();
    }
}

/// <summary>The semaphore suite through DistributedLock.Core's interfaces only, as an app switching backends would use them.</summary>
public sealed class DistributedSemaphoreAdapterContractTests(ClusterFixture fixture) : SemaphoreContractTests(fixture)
{
    protected override ISemaphoreApi NewApi() => new Api(Cluster.NewClient());

    private sealed class Api(CoordinationClient client) : ISemaphoreApi
    {
        private readonly IDistributedSemaphoreProvider _provider = client;

        public ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(string name, int maxCount, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            _provider.TryAcquireSemaphoreAsync(name, maxCount, timeout, cancellationToken);

        public ValueTask<IDistributedSynchronizationHandle> AcquireAsync(string name, int maxCount, TimeSpan? timeout, CancellationToken cancellationToken = default) =>
            _provider.AcquireSemaphoreAsync(name, maxCount, timeout, cancellationToken);

        public Task LoseSessionAsync() => client.CloseAsync();
    }
}

/// <summary>Helpers the contract suites share.</summary>
internal static class Contracts
{
    public static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    /// <summary>Collects garbage (running finalizers) until <paramref name="tryAcquire"/> gets what a dropped handle held.</summary>
    public static async Task<T> AcquireAfterCollectingAsync<T>(Func<Task<T?>> tryAcquire, string expectation)
        where T : class
    {
        T? next = null;
        await Eventually.Async(async () =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            next = await tryAcquire();
            return next is not null;
        }, TimeSpan.FromSeconds(20), expectation);
        return next!;
    }

    public static async ValueTask<IDistributedSynchronizationHandle> Upcast<T>(ValueTask<T> acquire)
        where T : IDistributedSynchronizationHandle => await acquire;

    public static async ValueTask<IDistributedSynchronizationHandle?> UpcastOrNull<T>(ValueTask<T?> acquire)
        where T : class, IDistributedSynchronizationHandle => await acquire;
}
