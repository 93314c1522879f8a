using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>
/// An operator's revoke and the lock-delay after an expiry on the semaphore and the reader-writer lock, as the
/// exclusive lock has them: the holders hear first (their lost tokens fire), a token is burned, and nobody else is
/// granted before the holders' TTL (or lock-delay) has run out.
/// </summary>
public sealed class SharedLockRevokeTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private IGrainFactory Grains => Cluster.Grains;

    [Fact]
    public async Task A_revoked_semaphore_fires_every_holders_lost_token_and_grants_again_only_after_their_ttl_above_the_burned_token()
    {
        var name = $"semaphore-revoke/{Guid.NewGuid():N}";
        var a = Cluster.NewClient();
        var first = await a.CreateSemaphore(name, 2).AcquireAsync(TimeSpan.FromSeconds(10));
        var second = await Cluster.NewClient().CreateSemaphore(name, 2).AcquireAsync(TimeSpan.FromSeconds(10));
        var waiter = Cluster.NewClient().CreateSemaphore(name, 2).AcquireAsync(TimeSpan.FromSeconds(30)).AsTask();
        await Eventually.Async(async () => (await Grains.GetGrain<ISemaphoreGrain>(name).GetInfo()).Waiters.Length == 1, TimeSpan.FromSeconds(10), "a third client waiting for a permit");

        var revokedAt = DateTime.UtcNow;
        var result = await a.RevokeSemaphoreAsync(name, "shared revoke test");
        Assert.Equal([first.FencingToken, second.FencingToken], result.Revoked.Select(h => h.FencingToken).Order());
        Assert.True(result.LastFencingToken > second.FencingToken, "a token was burned");
        Assert.True((await Grains.GetGrain<ISemaphoreGrain>(name).GetInfo()).LockDelayActive, "nothing is granted while the revoked holders may still believe they hold");

        await Eventually.Async(() => first.IsLost && second.IsLost, TimeSpan.FromSeconds(10), "both holders' lost tokens to fire after the revoke (at their next keepalive)");
        Assert.Equal("shared revoke test", first.RevokedReason);
        await using var next = await waiter;
        var grantedAfter = DateTime.UtcNow - revokedAt;
        Assert.True(grantedAfter >= CoordinationCluster.Ttl, $"a permit was granted {grantedAfter.TotalSeconds:0.000} s after the revoke: before the revoked holders' {CoordinationCluster.Ttl.TotalSeconds} s TTL");
        Assert.True(next.FencingToken > result.LastFencingToken, "the next permit's token is above the burned one");

        await first.DisposeAsync();
        await second.DisposeAsync();
    }

    [Fact]
    public async Task A_revoked_reader_writer_lock_fires_every_readers_lost_token_and_the_next_writer_is_above_the_burned_token()
    {
        var name = $"rw-revoke/{Guid.NewGuid():N}";
        var a = Cluster.NewClient();
        var r1 = await a.CreateReaderWriterLock(name).AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        var r2 = await Cluster.NewClient().CreateReaderWriterLock(name).AcquireReadLockAsync(TimeSpan.FromSeconds(10));
        var writer = Cluster.NewClient().CreateReaderWriterLock(name).AcquireWriteLockAsync(TimeSpan.FromSeconds(30)).AsTask();
        await Eventually.Async(async () => (await Grains.GetGrain<IReaderWriterLockGrain>(name).GetInfo()).Waiters.Length == 1, TimeSpan.FromSeconds(10), "a writer waiting behind the readers");

        var result = await a.RevokeReaderWriterLockAsync(name, "shared revoke test");
        Assert.Equal(2, result.Revoked.Length);
        await Eventually.Async(() => r1.IsLost && r2.IsLost, TimeSpan.FromSeconds(10), "both readers' lost tokens to fire after the revoke");
        await using var w = await writer;
        Assert.True(w.FencingToken > result.LastFencingToken, "the writer's token is above the burned one");
        await r1.DisposeAsync();
        await r2.DisposeAsync();
    }

    [Fact]
    public async Task A_revoke_with_nobody_holding_changes_nothing_and_bad_input_is_a_typed_error()
    {
        var name = $"semaphore-revoke-empty/{Guid.NewGuid():N}";
        var client = Cluster.NewClient();
        var result = await client.RevokeSemaphoreAsync(name, "nobody holds it");
        Assert.Empty(result.Revoked);
        await using var permit = await client.CreateSemaphore(name, 1).AcquireAsync(TimeSpan.FromSeconds(10));
        Assert.True(permit.FencingToken > result.LastFencingToken);

        await Assert.ThrowsAsync<CoordinationArgumentException>(() => client.RevokeReaderWriterLockAsync(name, ""));
        await Assert.ThrowsAsync<InvalidNameException>(() => client.RevokeSemaphoreAsync("bad\nname", "reason"));
        Assert.False(permit.IsLost);
    }

    public static TheoryData<string> Kinds => ["semaphore", "write lock", "read lock"];

    /// <summary>As the exclusive lock's lock-delay: an expired holder's grant is given to nobody for TTL + lock-delay after its last acknowledged keepalive.</summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_lock_delay_keeps_an_expired_holders_grant_from_everyone_for_its_duration(string kind)
    {
        var name = $"shared-delay/{Guid.NewGuid():N}";
        var delay = TimeSpan.FromSeconds(2);
        var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        Task<long> Acquire(TestSession s, TimeSpan lockDelay, TimeSpan timeout)
        {
            var id = Guid.NewGuid();
            var sequence = RequestNumbers.Of(s.Id, id);
            return LockCalls.UntilGrantedAsync(
                park => kind == "semaphore"
                    ? Grains.GetGrain<ISemaphoreGrain>(name).Acquire(new SemaphoreAcquireRequest(s.Id, id, 1, AcquireMode.Wait, park, null, sequence, LockDelay: lockDelay))
                    : Grains.GetGrain<IReaderWriterLockGrain>(name).Acquire(new ReaderWriterAcquireRequest(s.Id, id, kind == "read lock" && s == a ? ReaderWriterAccess.Read : ReaderWriterAccess.Write, AcquireMode.Wait, park, null, sequence, LockDelay: lockDelay)),
                timeout,
                $"{kind} {name} not granted within {timeout}");
        }

        Task<SharedLockInfo> Info() => kind == "semaphore" ? Grains.GetGrain<ISemaphoreGrain>(name).GetInfo() : Grains.GetGrain<IReaderWriterLockGrain>(name).GetInfo();

        await Acquire(a, delay, TimeSpan.FromSeconds(10));
        var waitB = Acquire(b, TimeSpan.Zero, TimeSpan.FromSeconds(30));
        await a.StopKeepAliveAsync();
        var lastSend = a.LastAckedSend;
        await Eventually.Async(async () => (await Info()).LockDelayActive, TimeSpan.FromSeconds(10), "the expired holder's lock-delay to start");
        await waitB;
        var freedAfter = DateTime.UtcNow - lastSend;
        Assert.True(freedAfter >= CoordinationCluster.Ttl + delay, $"granted {freedAfter.TotalSeconds:0.000} s after the last keepalive: before TTL + lock-delay");
        Assert.False((await Info()).LockDelayActive);
    }

    [Fact]
    public async Task A_lock_delay_out_of_range_is_a_typed_error_that_creates_nothing()
    {
        await using var s = await TestSession.OpenAsync(Grains);
        var name = $"shared-delay-bad/{Guid.NewGuid():N}";
        foreach (var bad in new[] { TimeSpan.FromSeconds(-1), TimeSpan.FromHours(2) })
        {
            var id = Guid.NewGuid();
            var semaphore = await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.GetGrain<ISemaphoreGrain>(name).Acquire(new SemaphoreAcquireRequest(s.Id, id, 1, AcquireMode.Wait, TimeSpan.Zero, null, RequestNumbers.Of(s.Id, id), LockDelay: bad)));
            Assert.Equal("lockDelay", semaphore.Argument);
            await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.GetGrain<IReaderWriterLockGrain>(name).Acquire(new ReaderWriterAcquireRequest(s.Id, id, ReaderWriterAccess.Write, AcquireMode.Wait, TimeSpan.Zero, null, RequestNumbers.Of(s.Id, id), LockDelay: bad)));
        }

        Assert.Empty((await Grains.GetGrain<ISemaphoreGrain>(name).GetInfo()).Holders);
        Assert.Empty((await Grains.GetGrain<IReaderWriterLockGrain>(name).GetInfo()).Holders);
    }
}
