using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Medallion.Threading;

namespace Coordination.Cluster.Tests;

/// <summary>The lock under test, seen through one API.</summary>
public interface ILockApi
{
    Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default);

    Task<IAsyncDisposable> AcquireAsync(string name, TimeSpan? timeout, CancellationToken cancellationToken = default);

    /// <summary>The async try-acquire, started but not awaited: an argument error must be thrown by the call itself.</summary>
    void StartTryAcquire(string name, TimeSpan timeout);

    /// <summary>The async acquire, started but not awaited.</summary>
    void StartAcquire(string name, TimeSpan? timeout);

    IAsyncDisposable? TryAcquire(string name, TimeSpan timeout);

    IAsyncDisposable Acquire(string name, TimeSpan? timeout);

    CancellationToken LostToken(IAsyncDisposable handle);
}

/// <summary>
/// One suite of lock semantics, run against every way an application can hold our locks: mutual
/// exclusion, timeouts, cancellation, the lost-lock token and idempotent disposal. Each API instance
/// is a separate client with its own session, as two processes would be.
/// </summary>
public abstract class LockContractTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    protected CoordinationCluster Cluster => fixture.Cluster;

    protected abstract ILockApi NewApi();

    private static string NewLock() => $"contract/{Guid.NewGuid():N}";

    [Fact]
    public async Task Only_one_holder_at_a_time()
    {
        var name = NewLock();
        var apis = Enumerable.Range(0, 5).Select(_ => NewApi()).ToList();
        var inside = 0;
        var maxInside = 0;
        var entries = 0;
        await Task.WhenAll(apis.Select(api => Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await using var handle = await api.AcquireAsync(name, TimeSpan.FromSeconds(30));
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                Interlocked.Increment(ref entries);
                await Task.Yield();
                Interlocked.Decrement(ref inside);
            }
        })));
        Assert.Equal(1, maxInside);
        Assert.Equal(50, entries);
    }

    [Fact]
    public async Task Try_acquire_returns_null_while_held_and_a_handle_once_free()
    {
        var name = NewLock();
        var a = NewApi();
        var b = NewApi();
        var held = await a.AcquireAsync(name, TimeSpan.FromSeconds(10));
        Assert.Null(await b.TryAcquireAsync(name, TimeSpan.Zero));
        Assert.Null(await b.TryAcquireAsync(name, TimeSpan.FromMilliseconds(300)));
        await held.DisposeAsync();
        await using var mine = await b.TryAcquireAsync(name, TimeSpan.Zero);
        Assert.NotNull(mine);
    }

    [Fact]
    public async Task Acquire_times_out_with_TimeoutException_and_leaves_no_waiter_behind()
    {
        var name = NewLock();
        var a = NewApi();
        var b = NewApi();
        await using var held = await a.AcquireAsync(name, TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<TimeoutException>(() => b.AcquireAsync(name, TimeSpan.FromMilliseconds(500)));
        Assert.Empty((await Cluster.Grains.InfoAsync(name)).Waiters);
    }

    [Fact]
    public async Task Cancelling_a_wait_throws_and_leaves_no_waiter_behind()
    {
        var name = NewLock();
        var a = NewApi();
        var b = NewApi();
        await using var held = await a.AcquireAsync(name, TimeSpan.FromSeconds(10));
        using var cts = new CancellationTokenSource();
        var wait = b.AcquireAsync(name, null, cts.Token);
        await Cluster.Grains.WaitForWaitersAsync(name, 1, "the second client queued");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Empty((await Cluster.Grains.InfoAsync(name)).Waiters);
    }

    [Fact]
    public async Task A_waiter_gets_the_lock_when_the_holder_disposes_and_disposing_twice_is_harmless()
    {
        var name = NewLock();
        var a = NewApi();
        var b = NewApi();
        var held = await a.AcquireAsync(name, TimeSpan.FromSeconds(10));
        var wait = b.AcquireAsync(name, TimeSpan.FromSeconds(30));
        await Cluster.Grains.WaitForWaitersAsync(name, 1, "the second client queued");
        await held.DisposeAsync();
        await held.DisposeAsync();
        await using var next = await wait;
        Assert.NotNull((await Cluster.Grains.InfoAsync(name)).Holder);
    }

    [Fact]
    public async Task The_lost_token_fires_when_the_grant_is_revoked()
    {
        var name = NewLock();
        var a = NewApi();
        await using var held = await a.AcquireAsync(name, TimeSpan.FromSeconds(10));
        var lost = a.LostToken(held);
        Assert.False(lost.IsCancellationRequested);
        await Cluster.Grains.Lock(name).Revoke("contract test");
        await Eventually.Async(() => lost.IsCancellationRequested, TimeSpan.FromSeconds(10), "the handle's lost token to fire after the revoke (at the next keepalive)");
    }

    [Fact]
    public async Task Bad_names_and_timeouts_are_refused_before_anything_is_sent()
    {
        var a = NewApi();
        await Assert.ThrowsAsync<InvalidNameException>(() => a.AcquireAsync("", TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAsync<InvalidNameException>(() => a.AcquireAsync("bad\nname", TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => a.TryAcquireAsync(NewLock(), TimeSpan.FromSeconds(-2)));
    }

    public static TheoryData<TimeSpan> BadTimeouts =>
    [
        TimeSpan.FromMilliseconds(-2),
        TimeSpan.FromSeconds(-1),
        TimeSpan.FromMilliseconds(int.MaxValue + 1L),
        TimeSpan.FromSeconds(int.MaxValue),
        TimeSpan.MaxValue,
    ];

    [Theory]
    [MemberData(nameof(BadTimeouts))]
    public void Timeouts_out_of_range_throw_at_the_call_in_every_form(TimeSpan timeout)
    {
        var a = NewApi();
        var name = NewLock();
        Assert.Throws<ArgumentOutOfRangeException>(() => a.StartTryAcquire(name, timeout));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.StartAcquire(name, timeout));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.TryAcquire(name, timeout));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Acquire(name, timeout));
    }

    [Fact]
    public async Task The_largest_timeout_and_infinite_are_accepted()
    {
        var a = NewApi();
        await using var limit = await a.TryAcquireAsync(NewLock(), TimeSpan.FromMilliseconds(int.MaxValue));
        Assert.NotNull(limit);
        await using var infinite = await a.AcquireAsync(NewLock(), Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public async Task The_lost_token_of_a_disposed_handle_throws_ObjectDisposedException()
    {
        var a = NewApi();
        var handle = await a.AcquireAsync(NewLock(), TimeSpan.FromSeconds(10));
        _ = a.LostToken(handle);
        await handle.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => a.LostToken(handle));
        var sync = a.Acquire(NewLock(), TimeSpan.FromSeconds(10));
        await sync.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => a.LostToken(sync));
    }

    /// <summary>
    /// A WPF or WinForms UI thread, or any context that runs one thing at a time on the thread that now blocks in the call:
    /// a continuation posted back to it would never run, and the blocking call would hang forever.
    /// </summary>
    [Fact]
    public void The_blocking_calls_return_on_a_thread_whose_synchronization_context_runs_nothing_while_it_is_blocked()
    {
        var a = NewApi();
        var b = NewApi();
        var name = NewLock();
        var context = new BlockedThreadContext();
        Exception? failed = null;
        var thread = new Thread(() =>
        {
            SynchronizationContext.SetSynchronizationContext(context);
            try
            {
                var handle = a.Acquire(name, TimeSpan.FromSeconds(30));
                Assert.Null(b.TryAcquire(name, TimeSpan.Zero));
                Assert.IsAssignableFrom<IDisposable>(handle).Dispose();
                var again = b.TryAcquire(name, TimeSpan.FromSeconds(30));
                Assert.NotNull(again);
                Assert.IsAssignableFrom<IDisposable>(again).Dispose();
            }
            catch (Exception ex)
            {
                failed = ex;
            }
        })
        { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(90)), $"a blocking call under a single-threaded synchronization context never returned; {context.Posted} continuations were posted to the blocked thread");
        Assert.Null(failed);
    }

    /// <summary>
    /// The application drops the handle but keeps its lost token to guard its work (linked into a source, passed
    /// down): the finalizer releases the lock, and the token fires before anyone else can have it ("the client knows first").
    /// </summary>
    [Fact]
    public async Task A_handle_dropped_without_disposal_releases_its_lock_once_collected_and_fires_the_lost_token_left_behind_first()
    {
        var name = NewLock();
        var a = NewApi();
        var b = NewApi();
        var lost = await AcquireAndKeepOnlyTheLostTokenAsync(a, name);
        await using var next = await Contracts.AcquireAfterCollectingAsync(
            () => b.TryAcquireAsync(name, TimeSpan.FromMilliseconds(200)),
            "another client to get the lock after the dropped handle was collected (its session is still alive)");
        Assert.True(lost.IsCancellationRequested, "the first holder still watches a lost token that never fired, while another client holds the lock");
    }

    // Not inlined, so that no local of the caller's frame keeps the handle reachable.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<CancellationToken> AcquireAndKeepOnlyTheLostTokenAsync(ILockApi api, string name) =>
        api.LostToken(await api.AcquireAsync(name, TimeSpan.FromSeconds(10)));

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}

/// <summary>The suite through our own API: <see cref="CoordinationLock"/> and its fenced handles.</summary>
public sealed class CoordinationLockContractTests(ClusterFixture fixture) : LockContractTests(fixture)
{
    protected override ILockApi NewApi() => new Api(Cluster.NewClient());

    [Fact]
    public async Task Handles_carry_strictly_increasing_fencing_tokens()
    {
        var client = Cluster.NewClient();
        var name = $"contract/{Guid.NewGuid():N}";
        var tokens = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            await using var handle = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
            tokens.Add(handle.FencingToken);
        }

        Assert.Equal(tokens.Order().Distinct(), tokens);
    }

    private sealed class Api(CoordinationClient client) : ILockApi
    {
        public async Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            await client.CreateLock(name).TryAcquireAsync(timeout, cancellationToken);

        public async Task<IAsyncDisposable> AcquireAsync(string name, TimeSpan? timeout, CancellationToken cancellationToken = default) =>
            await client.CreateLock(name).AcquireAsync(timeout, cancellationToken);

        public void StartTryAcquire(string name, TimeSpan timeout) => _ = client.CreateLock(name).TryAcquireAsync(timeout);

        public void StartAcquire(string name, TimeSpan? timeout) => _ = client.CreateLock(name).AcquireAsync(timeout);

        public IAsyncDisposable? TryAcquire(string name, TimeSpan timeout) => client.CreateLock(name).TryAcquire(timeout);

        public IAsyncDisposable Acquire(string name, TimeSpan? timeout) => client.CreateLock(name).Acquire(timeout);

        public CancellationToken LostToken(IAsyncDisposable handle) => ((CoordinationLockHandle)handle).HandleLostToken;
    }
}

/// <summary>The suite through DistributedLock.Core's interfaces only, as an app switching backends would use them.</summary>
public sealed class DistributedLockAdapterContractTests(ClusterFixture fixture) : LockContractTests(fixture)
{
    protected override ILockApi NewApi() => new Api(Cluster.NewClient());

    private sealed class Api(IDistributedLockProvider provider) : ILockApi
    {
        public async Task<IAsyncDisposable?> TryAcquireAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            await provider.TryAcquireLockAsync(name, timeout, cancellationToken);

        public async Task<IAsyncDisposable> AcquireAsync(string name, TimeSpan? timeout, CancellationToken cancellationToken = default) =>
            await provider.AcquireLockAsync(name, timeout, cancellationToken);

        public void StartTryAcquire(string name, TimeSpan timeout) => _ = provider.TryAcquireLockAsync(name, timeout);

        public void StartAcquire(string name, TimeSpan? timeout) => _ = provider.AcquireLockAsync(name, timeout);

        public IAsyncDisposable? TryAcquire(string name, TimeSpan timeout) => provider.TryAcquireLock(name, timeout);

        public IAsyncDisposable Acquire(string name, TimeSpan? timeout) => provider.AcquireLock(name, timeout);

        public CancellationToken LostToken(IAsyncDisposable handle) => ((IDistributedSynchronizationHandle)handle).HandleLostToken;
    }
}

/// <summary>A synchronization context whose thread is blocked: what is posted to it never runs.</summary>
internal sealed class BlockedThreadContext : SynchronizationContext
{
    private int _posted;

    public int Posted => Volatile.Read(ref _posted);

    public override void Post(SendOrPostCallback d, object? state) => Interlocked.Increment(ref _posted);

    public override void Send(SendOrPostCallback d, object? state) => throw new InvalidOperationException("The context's thread is blocked.");
}
