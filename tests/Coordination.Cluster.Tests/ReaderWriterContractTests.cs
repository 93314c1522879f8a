using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Medallion.Threading;

namespace Coordination.Cluster.Tests;

/// <summary>The reader-writer lock under test, seen through DistributedLock.Core's interface (which our lock implements); each instance is a separate client.</summary>
public interface IReaderWriterApi
{
    IDistributedUpgradeableReaderWriterLock Create(string name);

    /// <summary>Ends the client's session, as a client that goes away does.</summary>
    Task LoseSessionAsync();
}

/// <summary>
/// DistributedLock's reader-writer semantics, run through our API and through the DistributedLock.Core adapter:
/// readers share, a writer is alone, one upgradeable reader whose upgrade waits for the readers, timeouts,
/// cancellation, the lost token, idempotent disposal and argument errors at the call.
/// </summary>
public abstract class ReaderWriterContractTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    protected CoordinationCluster Cluster => fixture.Cluster;

    protected abstract IReaderWriterApi NewApi();

    protected static string NewName() => $"contract-rw/{Guid.NewGuid():N}";

    protected Task<SharedLockInfo> InfoAsync(string name) =>
        Eventually.Retry(() => Cluster.Grains.GetGrain<IReaderWriterLockGrain>(name).GetInfo(), TimeSpan.FromSeconds(20), $"read lock {name}");

    [Fact]
    public async Task Readers_share_and_a_writer_is_alone()
    {
        var name = NewName();
        var a = NewApi().Create(name);
        var b = NewApi().Create(name);
        var read1 = await a.AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        await using (var read2 = await b.TryAcquireReadLockAsync(TimeSpan.Zero))
        {
            Assert.NotNull(read2);
            Assert.Null(await b.TryAcquireWriteLockAsync(TimeSpan.Zero));
        }

        Assert.Null(await b.TryAcquireWriteLockAsync(TimeSpan.FromMilliseconds(300)));
        await read1.DisposeAsync();
        await using var write = await b.TryAcquireWriteLockAsync(TimeSpan.Zero);
        Assert.NotNull(write);
        Assert.Null(await a.TryAcquireReadLockAsync(TimeSpan.Zero));
        Assert.Null(await a.TryAcquireUpgradeableReadLockAsync(TimeSpan.Zero));
    }

    [Fact]
    public async Task One_upgradeable_reader_beside_readers_and_its_upgrade_waits_for_them_to_leave()
    {
        var name = NewName();
        var a = NewApi().Create(name);
        var b = NewApi().Create(name);
        await using var upgradeable = await a.AcquireUpgradeableReadLockAsync(TimeSpan.FromSeconds(10));
        var reader = await b.AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        Assert.Null(await b.TryAcquireUpgradeableReadLockAsync(TimeSpan.Zero));
        Assert.False(await upgradeable.TryUpgradeToWriteLockAsync(TimeSpan.Zero));

        var upgrade = upgradeable.UpgradeToWriteLockAsync(TimeSpan.FromSeconds(30)).AsTask();
        await Eventually.Async(async () => (await InfoAsync(name)).UpgradePending, TimeSpan.FromSeconds(10), "the upgrade to wait for the reader");
        Assert.Null(await b.TryAcquireReadLockAsync(TimeSpan.Zero));
        Assert.False(upgrade.IsCompleted);
        await reader.DisposeAsync();
        await upgrade;
        Assert.Equal(ReaderWriterAccess.Write, Assert.Single((await InfoAsync(name)).Holders).Access);
        Assert.Null(await b.TryAcquireReadLockAsync(TimeSpan.Zero));
    }

    [Fact]
    public async Task A_timed_out_upgrade_leaves_an_upgradeable_reader_and_lets_readers_in_again()
    {
        var name = NewName();
        var a = NewApi().Create(name);
        var b = NewApi().Create(name);
        await using var upgradeable = await a.AcquireUpgradeableReadLockAsync(TimeSpan.FromSeconds(10));
        await using var reader = await b.AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<TimeoutException>(async () => await upgradeable.UpgradeToWriteLockAsync(TimeSpan.FromMilliseconds(500)));
        Assert.False((await InfoAsync(name)).UpgradePending);
        await using var another = await b.TryAcquireReadLockAsync(TimeSpan.Zero);
        Assert.NotNull(another);
    }

    [Fact]
    public async Task A_timed_out_or_cancelled_writer_throws_and_leaves_no_waiter_behind()
    {
        var name = NewName();
        var a = NewApi().Create(name);
        var b = NewApi().Create(name);
        await using var read = await a.AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<TimeoutException>(async () => await b.AcquireWriteLockAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Empty((await InfoAsync(name)).Waiters);

        using var cts = new CancellationTokenSource();
        var wait = b.AcquireWriteLockAsync(null, cts.Token).AsTask();
        await Eventually.Async(async () => (await InfoAsync(name)).Waiters.Length == 1, TimeSpan.FromSeconds(10), "the writer queued");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Empty((await InfoAsync(name)).Waiters);
    }

    [Fact]
    public async Task A_waiting_writer_gets_the_lock_when_the_readers_dispose_and_disposing_twice_is_harmless()
    {
        var name = NewName();
        var a = NewApi().Create(name);
        var b = NewApi().Create(name);
        var read = await a.AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        var write = b.AcquireWriteLockAsync(TimeSpan.FromSeconds(30)).AsTask();
        await Eventually.Async(async () => (await InfoAsync(name)).Waiters.Length == 1, TimeSpan.FromSeconds(10), "the writer queued");
        await read.DisposeAsync();
        await read.DisposeAsync();
        await using var held = await write;
        Assert.Equal(ReaderWriterAccess.Write, Assert.Single((await InfoAsync(name)).Holders).Access);
    }

    [Fact]
    public async Task The_lost_token_fires_when_the_session_ends_and_a_disposed_handle_refuses_it()
    {
        var name = NewName();
        var api = NewApi();
        var held = await api.Create(name).AcquireWriteLockAsync(TimeSpan.FromSeconds(10));
        var lost = held.HandleLostToken;
        await api.LoseSessionAsync();
        await Eventually.Async(() => lost.IsCancellationRequested, TimeSpan.FromSeconds(10), "the handle's lost token to fire when its session ended");
        await Eventually.Async(async () => (await InfoAsync(name)).Holders.IsEmpty, TimeSpan.FromSeconds(10), "the write lock to be released when its session ended");
        await held.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => held.HandleLostToken);
    }

    [Fact]
    public async Task Bad_names_and_timeouts_are_refused_at_the_call()
    {
        var api = NewApi();
        Assert.Throws<InvalidNameException>(() => api.Create(""));
        Assert.Throws<InvalidNameException>(() => api.Create("bad\nname"));
        var rw = api.Create(NewName());
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = rw.TryAcquireReadLockAsync(TimeSpan.FromSeconds(-2)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = rw.AcquireWriteLockAsync(TimeSpan.FromSeconds(int.MaxValue)); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = rw.TryAcquireUpgradeableReadLockAsync(TimeSpan.FromMilliseconds(-5)); });
        await using var upgradeable = await rw.AcquireUpgradeableReadLockAsync(TimeSpan.FromSeconds(10));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = upgradeable.TryUpgradeToWriteLockAsync(TimeSpan.FromSeconds(-2)); });
    }
}

/// <summary>The reader-writer suite through our own API, plus what only it shows: fencing tokens.</summary>
public sealed class CoordinationReaderWriterContractTests(ClusterFixture fixture) : ReaderWriterContractTests(fixture)
{
    protected override IReaderWriterApi NewApi() => new Api(Cluster.NewClient());

    [Fact]
    public async Task A_writers_token_is_above_every_earlier_grant_and_readers_carry_the_last_writers()
    {
        var rw = Cluster.NewClient().CreateReaderWriterLock(NewName());
        long last;
        await using (var write = await rw.AcquireWriteLockAsync(TimeSpan.FromSeconds(10)))
        {
            last = write.FencingToken;
        }

        for (var i = 0; i < 3; i++)
        {
            await using (var r1 = await rw.AcquireReadLockAsync(TimeSpan.FromSeconds(10)))
            await using (var r2 = await rw.AcquireReadLockAsync(TimeSpan.FromSeconds(10)))
            {
                Assert.Equal(last, r1.FencingToken);
                Assert.Equal(last, r2.FencingToken);
            }

            await using var upgradeable = await rw.AcquireUpgradeableReadLockAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(last, upgradeable.FencingToken);
            await upgradeable.UpgradeToWriteLockAsync(TimeSpan.FromSeconds(10));
            Assert.True(upgradeable.FencingToken > last, $"the upgraded writer's token {upgradeable.FencingToken} is not above {last}");
            last = upgradeable.FencingToken;
        }
    }

    private sealed class Api(CoordinationClient client) : IReaderWriterApi
    {
        public IDistributedUpgradeableReaderWriterLock Create(string name) => client.CreateReaderWriterLock(name);

        public Task LoseSessionAsync() => client.CloseAsync();
    }
}

/// <summary>The reader-writer suite through DistributedLock.Core's providers only, as an app switching backends would use them.</summary>
public sealed class DistributedReaderWriterAdapterContractTests(ClusterFixture fixture) : ReaderWriterContractTests(fixture)
{
    protected override IReaderWriterApi NewApi() => new Api(Cluster.NewClient());

    [Fact]
    public async Task The_plain_provider_serves_the_same_locks()
    {
        var name = NewName();
        IDistributedReaderWriterLockProvider plain = Cluster.NewClient();
        IDistributedUpgradeableReaderWriterLockProvider upgradeable = Cluster.NewClient();
        await using var read = await plain.AcquireReadLockAsync(name, TimeSpan.FromSeconds(10));
        await using var other = await upgradeable.TryAcquireUpgradeableReadLockAsync(name, TimeSpan.Zero);
        Assert.NotNull(other);
        Assert.Null(await plain.TryAcquireWriteLockAsync(name, TimeSpan.Zero));
    }

    private sealed class Api(CoordinationClient client) : IReaderWriterApi
    {
        private readonly IDistributedUpgradeableReaderWriterLockProvider _provider = client;

        public IDistributedUpgradeableReaderWriterLock Create(string name) => _provider.CreateUpgradeableReaderWriterLock(name);

        public Task LoseSessionAsync() => client.CloseAsync();
    }
}
