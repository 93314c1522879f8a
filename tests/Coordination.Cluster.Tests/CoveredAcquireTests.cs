using Coordination.Cluster.Tests.Infrastructure;
using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>
/// Covered acquires (<see cref="SessionCovers"/>): a session that uses a name again rides on its cover instead of
/// attaching every request, and the rules the attach served still hold through the cover: the session's end frees a
/// carried grant, a late copy of a carried request is refused, the activation's check of its sessions keeps a
/// carried holder, and a quiet lock leaves nothing behind.
/// </summary>
public sealed class CoveredAcquireTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private IGrainFactory Grains => Cluster.Grains;

    private static string NewName() => $"cover/{Guid.NewGuid():N}";

    [Fact]
    public async Task A_session_using_a_name_again_rides_on_its_cover_and_a_quiet_lock_leaves_nothing()
    {
        var name = NewName();
        await using var client = Cluster.NewClient();
        for (var i = 0; i < 3; i++)
        {
            await using var pair = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        }

        var held = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        var record = Newest(name);
        var cover = Assert.Single(record.Covers);
        Assert.True(record.Holder is { } h && h.SessionId == cover.SessionId && h.Cover == cover.Sequence && h.Sequence > cover.Sequence, $"the fourth acquire was not carried by the cover: holder {record.Holder}, cover {cover}");
        Assert.Equal([cover.Sequence], AttachedAt(name));
        Assert.True(record.Finished.Count <= 2, $"carried requests that finished were kept: {string.Join(", ", record.Finished)}");

        // Quiet: the cover retires (its session lets it go and takes its mark), then the register is deleted.
        await held.DisposeAsync();
        await Eventually.Async(
            () => Task.FromResult(!Cluster.NewestValues().Any(v => v.Key == $"l/{name}" && v.Value is not null) && AttachedAt(name).Count == 0),
            TimeSpan.FromSeconds(30),
            "the quiet lock's register to be deleted and its cover let go at the session");
    }

    [Fact]
    public async Task A_carried_grant_is_freed_when_its_session_expires()
    {
        var name = NewName();
        var a = await TestSession.OpenAsync(Grains, CoordinationCluster.Ttl);
        await using var b = await TestSession.OpenAsync(Grains);
        var settled = 0L;
        for (var i = 0; i < 2; i++)
        {
            var pair = await GrantedAsync(a, name, settled);
            Assert.Equal(ReleaseOutcome.Released, await Grains.ReleaseAsync(name, a.Id, pair.Id, pair.Token));
            settled = pair.Sequence;
        }

        var carried = await GrantedAsync(a, name, settled);
        Assert.Equal(Assert.Single(Newest(name).Covers).Sequence, Newest(name).Holder?.Cover);

        // Only the cover's attachment tells the ending session about this lock. Nobody waits, so no holder audit runs:
        // the grant goes only if the session's end finds the lock.
        await a.StopKeepAliveAsync();
        await Eventually.Async(
            async () => (await Grains.InfoAsync(name)).Holder is null,
            TimeSpan.FromSeconds(20),
            "the carried grant to be freed by its session's end");
        var token = await Grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        Assert.True(token > carried.Token, $"the next grant's token {token} is not above the carried grant's {carried.Token}");
        Assert.DoesNotContain(Newest(name).Covers, c => c.SessionId == a.Id);
        await a.DisposeAsync();
    }

    [Fact]
    public async Task A_late_copy_of_a_carried_request_is_refused_before_and_after_the_lock_forgets_it()
    {
        var name = NewName();
        await using var s = await TestSession.OpenAsync(Grains);
        var first = await GrantedAsync(s, name, 0);
        await Grains.ReleaseAsync(name, s.Id, first.Id, first.Token);
        var second = await GrantedAsync(s, name, first.Sequence);
        await Grains.ReleaseAsync(name, s.Id, second.Id, second.Token);
        var carried = await GrantedAsync(s, name, second.Sequence);
        Assert.Equal(Newest(name).Covers.Single().Sequence, Newest(name).Holder?.Cover);
        await Grains.ReleaseAsync(name, s.Id, carried.Id, carried.Token);

        // Still remembered as finished here.
        await Assert.ThrowsAsync<RequestFinishedException>(() => LateCopyAsync(s, name, carried, second.Sequence));

        // The next acquire carries a mark past it, so the lock forgets it; the copy then goes to the session, which refuses it.
        var next = await GrantedAsync(s, name, carried.Sequence);
        Assert.DoesNotContain(Newest(name).Finished, f => f.RequestId == carried.Id);
        await Grains.ReleaseAsync(name, s.Id, next.Id, next.Token);
        await Assert.ThrowsAsync<RequestFinishedException>(() => LateCopyAsync(s, name, carried, second.Sequence));
        Assert.Null(Newest(name).Holder);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, await Grains.ReleaseAsync(name, s.Id, carried.Id, carried.Token));
    }

    [Fact]
    public async Task A_new_activation_checks_a_carried_holder_through_its_cover()
    {
        var name = NewName();
        await using var s = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        for (var i = 0; i < 2; i++)
        {
            var pair = await GrantedAsync(s, name, 0);
            await Grains.ReleaseAsync(name, s.Id, pair.Id, pair.Token);
        }

        var carried = await GrantedAsync(s, name, 0);
        Assert.NotEqual(0, Newest(name).Holder?.Cover);

        // A waiter whose session no longer lists it: the check withdraws it, after it has checked the holder.
        var waiter = Guid.NewGuid();
        var waiterSequence = RequestNumbers.Of(b.Id, waiter);
        await Grains.Lock(name).Acquire(new AcquireRequest(b.Id, waiter, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, waiterSequence));
        await Grains.GetGrain<ISessionGrainInternal>(b.Id).Detach(Holding.Lock(name), waiterSequence);
        await Cluster.Cluster.DeactivateAsync(Grains.Lock(name));
        await Eventually.Async(
            async () => (await Grains.InfoAsync(name)).Waiters.IsEmpty,
            TimeSpan.FromSeconds(20),
            "the new activation's check to withdraw the waiter its session does not list");
        Assert.Equal(carried.Token, (await Grains.InfoAsync(name)).Holder?.FencingToken);
        Assert.Equal(ReleaseOutcome.Released, await Grains.ReleaseAsync(name, s.Id, carried.Id, carried.Token));
    }

    private async Task<(Guid Id, long Sequence, long Token)> GrantedAsync(TestSession s, string name, long settledThrough)
    {
        var id = Guid.NewGuid();
        var sequence = RequestNumbers.Of(s.Id, id);
        var result = await Grains.Lock(name).Acquire(new AcquireRequest(s.Id, id, AcquireMode.Wait, TimeSpan.FromSeconds(5), null, TimeSpan.Zero, sequence, settledThrough));
        Assert.Equal(AcquireStatus.Granted, result.Status);
        return (id, sequence, result.FencingToken);
    }

    private Task<AcquireResult> LateCopyAsync(TestSession s, string name, (Guid Id, long Sequence, long Token) request, long settledThrough) =>
        Grains.Lock(name).Acquire(new AcquireRequest(s.Id, request.Id, AcquireMode.IfAvailable, TimeSpan.Zero, null, TimeSpan.Zero, request.Sequence, settledThrough));

    private LockRecord Newest(string name) =>
        Cluster.NewestValues().FirstOrDefault(v => v.Key == $"l/{name}").Value as LockRecord ?? throw new InvalidOperationException($"no register for lock '{name}'");

    private List<long> AttachedAt(string name) =>
        [.. Cluster.NewestValues().Select(v => v.Value).OfType<SessionShard>().SelectMany(s => s.Attached).Where(a => a.Holding == Holding.Lock(name)).Select(a => a.Sequence).Distinct()];
}
