using System.Diagnostics;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Coordination.TestKit.Faults;

namespace Coordination.Cluster.Tests;

/// <summary>The lock's contract on a healthy 4-silo cluster: exclusion through a fenced resource, fairness, idempotence, queries.</summary>
public sealed class LockTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private IGrainFactory Grains => fixture.Cluster.Grains;

    private static string NewLock() => $"orders/{Guid.NewGuid():N}";

    /// <summary>
    /// Each grant reads the fenced resource, lets the others run, and writes back what it read with its token
    /// appended. A second holder inside that window raises the resource's highest token, so the first holder's
    /// write is refused; a token granted twice leaves it twice, or loses an append; a stale token is refused.
    /// </summary>
    [Fact]
    public async Task Eight_clients_on_one_lock_never_overlap_and_tokens_strictly_increase()
    {
        var name = NewLock();
        var resource = new FencedResource();
        var sessions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => TestSession.OpenAsync(Grains)));
        try
        {
            await Task.WhenAll(sessions.Select((s, i) => Task.Run(async () =>
            {
                for (var round = 0; round < 15; round++)
                {
                    var id = Guid.NewGuid();
                    var token = await Grains.AcquireAsync(name, s.Id, id, TimeSpan.FromSeconds(60), owner: $"client-{i}");
                    if (resource.TryRead(token, out var items))
                    {
                        await Task.Yield();
                        resource.TryWrite(token, [.. items, token]);
                    }

                    Assert.Equal(ReleaseOutcome.Released, await Grains.ReleaseAsync(name, s.Id, id, token));
                }
            })));
        }
        finally
        {
            foreach (var s in sessions)
            {
                await s.DisposeAsync();
            }
        }

        var written = resource.Items;
        Assert.True(resource.Rejected == 0, $"{resource.Rejected} reads or writes came with a token below one the resource had seen: {string.Join(", ", written)}");
        Assert.Equal(120, written.Count);
        Assert.True(written.Zip(written.Skip(1)).All(pair => pair.First < pair.Second), $"tokens in grant order are not strictly increasing: {string.Join(", ", written)}");
        var info = await Grains.InfoAsync(name);
        Assert.Null(info.Holder);
        Assert.Equal(written[^1], info.LastFencingToken);
    }

    [Fact]
    public async Task Waiters_are_granted_in_fifo_order_when_the_holder_releases()
    {
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        await using var c = await TestSession.OpenAsync(Grains);
        var ida = Guid.NewGuid();
        var ta = await Grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        var granted = new List<string>();
        var idb = Guid.NewGuid();
        var waitB = Task.Run(async () => { var t = await Grains.AcquireAsync(name, b.Id, idb, TimeSpan.FromSeconds(20)); lock (granted) { granted.Add("b"); } return t; });
        await Grains.WaitForWaitersAsync(name, 1, "b queued");
        var idc = Guid.NewGuid();
        var waitC = Task.Run(async () => { var t = await Grains.AcquireAsync(name, c.Id, idc, TimeSpan.FromSeconds(20)); lock (granted) { granted.Add("c"); } return t; });
        await Grains.WaitForWaitersAsync(name, 2, "c queued behind b");

        var info = await Grains.InfoAsync(name);
        Assert.Equal([b.Info.Tag, c.Info.Tag], info.Waiters.Select(w => w.SessionTag));
        Assert.Equal(a.Info.Tag, info.Holder!.SessionTag);

        await Grains.ReleaseAsync(name, a.Id, ida, ta);
        var tb = await waitB;
        Assert.True(tb > ta);
        await Grains.ReleaseAsync(name, b.Id, idb, tb);
        var tc = await waitC;
        Assert.True(tc > tb);
        Assert.Equal(["b", "c"], granted);
    }

    [Fact]
    public async Task Retrying_an_acquire_whose_reply_was_dropped_returns_the_same_grant()
    {
        var name = NewLock();
        await using var s = await TestSession.OpenAsync(Grains);
        var id = Guid.NewGuid();
        fixture.Cluster.Dropper.DropNextReply(nameof(ILockGrain.Acquire));
        await Assert.ThrowsAsync<TimeoutException>(() => Grains.Lock(name).Acquire(new AcquireRequest(s.Id, id, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, id))));

        var retry = await Grains.Lock(name).Acquire(new AcquireRequest(s.Id, id, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, id)));
        var info = await Grains.InfoAsync(name);
        Assert.Equal(AcquireStatus.Granted, retry.Status);
        Assert.Equal(info.Holder!.FencingToken, retry.FencingToken);
        Assert.Equal(id, info.Holder.RequestId);
        Assert.Equal(info.LastFencingToken, retry.FencingToken);
    }

    [Fact]
    public async Task Retrying_a_queued_acquire_keeps_its_place_and_two_acquires_of_one_session_are_two_holders()
    {
        var name = NewLock();
        await using var s = await TestSession.OpenAsync(Grains);
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        var t1 = await Grains.AcquireAsync(name, s.Id, first, TimeSpan.FromSeconds(10));
        var q1 = await Grains.Lock(name).Acquire(new AcquireRequest(s.Id, second, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, second)));
        var q2 = await Grains.Lock(name).Acquire(new AcquireRequest(s.Id, second, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, second)));
        Assert.Equal(AcquireStatus.Queued, q1.Status);
        Assert.Equal(q1, q2);
        await Grains.ReleaseAsync(name, s.Id, first, t1);
        Assert.True(await Grains.AcquireAsync(name, s.Id, second, TimeSpan.FromSeconds(10)) > t1);
    }

    [Fact]
    public async Task Try_acquire_never_queues_and_cancel_undoes_a_grant_that_raced_it()
    {
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        var ida = Guid.NewGuid();
        var ta = await Grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        var tryB = await Grains.Lock(name).Acquire(new AcquireRequest(b.Id, Guid.NewGuid(), AcquireMode.IfAvailable, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(b.Id, Guid.NewGuid())));
        Assert.Equal(AcquireStatus.NotAvailable, tryB.Status);
        Assert.Empty((await Grains.InfoAsync(name)).Waiters);

        Assert.Equal(CancelOutcome.GrantUndone, await Grains.Lock(name).Cancel(a.Id, ida, RequestNumbers.Of(a.Id, ida)));
        Assert.Null((await Grains.InfoAsync(name)).Holder);
        await Assert.ThrowsAsync<RequestFinishedException>(() => Grains.Lock(name).Acquire(new AcquireRequest(a.Id, ida, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(a.Id, ida))));
        Assert.Equal(CancelOutcome.NotFound, await Grains.Lock(name).Cancel(a.Id, ida, RequestNumbers.Of(a.Id, ida)));
        Assert.True(await Grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10)) > ta);
    }

    [Fact]
    public async Task Repeating_a_release_succeeds_and_a_stale_release_changes_nothing()
    {
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        var ida = Guid.NewGuid();
        var ta = await Grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        Assert.Equal(ReleaseOutcome.Released, await Grains.ReleaseAsync(name, a.Id, ida, ta));
        Assert.Equal(ReleaseOutcome.AlreadyReleased, await Grains.ReleaseAsync(name, a.Id, ida, ta));
        var idb = Guid.NewGuid();
        var tb = await Grains.AcquireAsync(name, b.Id, idb, TimeSpan.FromSeconds(10));
        Assert.Equal(ReleaseOutcome.AlreadyReleased, await Grains.ReleaseAsync(name, a.Id, ida, ta));
        var info = await Grains.InfoAsync(name);
        Assert.Equal(tb, info.Holder!.FencingToken);
        Assert.Equal(b.Info.Tag, info.Holder.SessionTag);
    }

    [Fact]
    public async Task Revoke_tells_the_holder_first_bumps_the_token_and_keeps_the_lock_free_for_the_holders_ttl()
    {
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(Grains, keepAlive: false);
        await using var b = await TestSession.OpenAsync(Grains);
        var id = Guid.NewGuid();
        var token = await Grains.AcquireAsync(name, a.Id, id, TimeSpan.FromSeconds(10));
        var waitB = Grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(20));
        await Grains.WaitForWaitersAsync(name, 1, "b queued");

        var result = await Grains.Lock(name).Revoke("maintenance window");
        var sinceRevoke = Stopwatch.StartNew();
        Assert.Equal(token, result.Revoked!.FencingToken);
        Assert.True(result.LastFencingToken > token);

        // The notice was in the holder's session before the grant went: the very next keepalive carries it.
        var keepAlive = await a.Grain.KeepAlive(0);
        var notice = Assert.Single(keepAlive.Notices);
        Assert.Equal((name, id, token, "maintenance window"), (notice.LockName, notice.RequestId, notice.FencingToken, notice.Reason));
        Assert.Empty((await a.Grain.KeepAlive(notice.Sequence)).Notices);

        // Nobody gets the lock until the holder's TTL has run since the revoke (its client has heard, or its deadline passed).
        var tb = await waitB;
        Assert.True(sinceRevoke.Elapsed >= CoordinationCluster.Ttl - TimeSpan.FromMilliseconds(100), $"b was granted {sinceRevoke.Elapsed} after the revoke, before the holder's TTL of {CoordinationCluster.Ttl}");
        Assert.True(tb > result.LastFencingToken);
    }

    [Fact]
    public async Task Closing_a_session_releases_everything_it_held_at_once()
    {
        var one = NewLock();
        var two = NewLock();
        var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        await Grains.AcquireAsync(one, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        await Grains.AcquireAsync(two, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        var waitB = Grains.AcquireAsync(one, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(20));
        await Grains.WaitForWaitersAsync(one, 1, "b waiting on the first lock");

        await a.StopKeepAliveAsync();
        var watch = Stopwatch.StartNew();
        var closed = await a.Grain.Close();
        Assert.Equal(SessionStatus.Closed, closed.Status);
        await waitB;
        Assert.True(watch.Elapsed < CoordinationCluster.Ttl, $"the waiter was granted {watch.Elapsed} after close, not at once");
        Assert.Null((await Grains.InfoAsync(two)).Holder);
        await Assert.ThrowsAsync<SessionExpiredException>(() => a.Grain.KeepAlive(0));
        await Assert.ThrowsAsync<SessionExpiredException>(() => Grains.Lock(two).Acquire(new AcquireRequest(a.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(a.Id, Guid.NewGuid()))));
        Assert.Null((await Grains.InfoAsync(two)).Holder);
        Assert.Equal(SessionStatus.Closed, (await a.Grain.Close()).Status);
    }

    [Fact]
    public async Task A_session_that_stops_keeping_alive_loses_its_locks_never_early_and_within_the_bound()
    {
        var name = NewLock();
        var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        var ta = await Grains.AcquireAsync(name, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        var waitB = Grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        await Grains.WaitForWaitersAsync(name, 1, "b waiting");

        await a.StopKeepAliveAsync();
        var lastSend = a.LastAckedSend;
        var tb = await waitB;
        var freedAfter = DateTime.UtcNow - lastSend;
        Assert.True(tb > ta);
        Assert.True(freedAfter >= CoordinationCluster.Ttl, $"freed {freedAfter.TotalSeconds:0.000} s after the last acknowledged keepalive was sent: earlier than the {CoordinationCluster.Ttl.TotalSeconds} s TTL");
        Assert.True(freedAfter < CoordinationCluster.Ttl + TimeSpan.FromSeconds(2), $"freed {freedAfter.TotalSeconds:0.000} s after the last keepalive: later than TTL + 2 s");
        await Assert.ThrowsAsync<SessionExpiredException>(() => a.Grain.KeepAlive(0));
    }

    [Fact]
    public async Task A_lock_delay_keeps_an_expired_holders_lock_unavailable_for_its_duration()
    {
        var name = NewLock();
        var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        var delay = TimeSpan.FromSeconds(2);
        var ra = await Grains.Lock(name).Acquire(new AcquireRequest(a.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, delay, Sequence: RequestNumbers.Of(a.Id, Guid.NewGuid())));
        Assert.Equal(AcquireStatus.Granted, ra.Status);
        var waitB = Grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        await a.StopKeepAliveAsync();
        var lastSend = a.LastAckedSend;
        await Eventually.Async(async () => (await Grains.InfoAsync(name)).LockDelayActive, TimeSpan.FromSeconds(10), "the expired holder's lock-delay to start");
        await waitB;
        var freedAfter = DateTime.UtcNow - lastSend;
        Assert.True(freedAfter >= CoordinationCluster.Ttl + delay, $"granted {freedAfter.TotalSeconds:0.000} s after the last keepalive: before TTL + lock-delay");
        Assert.False((await Grains.InfoAsync(name)).LockDelayActive);
    }

    [Fact]
    public async Task A_clients_lock_delay_holds_its_revoked_lock_permit_and_reader_writer_lock_from_everyone_for_its_length()
    {
        // Twice the test cluster's TTL, which a revoke holds without a lock-delay.
        var delay = CoordinationCluster.Ttl * 2;
        var holder = fixture.Cluster.NewClient(o => o.LockDelay = delay);
        var other = fixture.Cluster.NewClient();
        var (lockName, semaphoreName, readerWriterName) = (NewLock(), NewLock(), NewLock());
        await using var held = await holder.CreateLock(lockName).AcquireAsync();
        await using var permit = await holder.CreateSemaphore(semaphoreName, 1).AcquireAsync();
        await using var writing = await holder.CreateReaderWriterLock(readerWriterName).AcquireWriteLockAsync();
        var nextLock = other.CreateLock(lockName).AcquireAsync(TimeSpan.FromSeconds(60));
        var nextPermit = other.CreateSemaphore(semaphoreName, 1).AcquireAsync(TimeSpan.FromSeconds(60));
        var nextWriter = other.CreateReaderWriterLock(readerWriterName).AcquireWriteLockAsync(TimeSpan.FromSeconds(60));

        var sinceRevoke = Stopwatch.StartNew();
        await Task.WhenAll(
            other.RevokeLockAsync(lockName, "lock-delay test"),
            other.RevokeSemaphoreAsync(semaphoreName, "lock-delay test"),
            other.RevokeReaderWriterLockAsync(readerWriterName, "lock-delay test"));
        Assert.True((await other.CreateLock(lockName).GetInfoAsync()).LockDelayActive, "the revoked lock should be held from everyone, and its info says it is not");
        await using var lockAfter = await nextLock;
        var lockAt = sinceRevoke.Elapsed;
        await using var permitAfter = await nextPermit;
        var permitAt = sinceRevoke.Elapsed;
        await using var writerAfter = await nextWriter;
        var writerAt = sinceRevoke.Elapsed;
        Assert.True(lockAt >= delay, $"the lock was granted {lockAt} after the revoke: before the holder's lock-delay of {delay}");
        Assert.True(permitAt >= delay, $"the permit was granted {permitAt} after the revoke: before the holder's lock-delay of {delay}");
        Assert.True(writerAt >= delay, $"the reader-writer lock was granted {writerAt} after the revoke: before the holder's lock-delay of {delay}");
    }

    [Fact]
    public async Task A_grant_is_held_by_a_majority_of_the_keys_replicas_on_distinct_silos_before_the_caller_hears_yes()
    {
        var name = NewLock();
        await using var s = await TestSession.OpenAsync(Grains);
        var token = await Grains.AcquireAsync(name, s.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        var config = await fixture.Cluster.ConfigurationOfLockAsync(name);
        var replicas = await fixture.Cluster.LockReplicasAsync(name);
        Assert.Equal(3, config.Members.Select(m => m.Id).Distinct().Count());
        Assert.Equal(config.Members.Select(m => m.Id.Value).Order(), replicas.Select(r => r.Replica).Order());
        var holding = replicas.Count(r => r.Record?.Holder?.Token == token);
        Assert.True(holding >= 2, $"only {holding} of 3 replicas hold the acknowledged grant");
    }

    [Fact]
    public async Task Lock_state_survives_the_deactivation_of_its_grain()
    {
        var name = NewLock();
        await using var s = await TestSession.OpenAsync(Grains);
        var id = Guid.NewGuid();
        var token = await Grains.AcquireAsync(name, s.Id, id, TimeSpan.FromSeconds(10));
        await fixture.Cluster.Cluster.DeactivateAsync(Grains.Lock(name));
        var info = await Grains.InfoAsync(name);
        Assert.Equal(new LockHolder(s.Info.Tag, id, token, null), info.Holder);
        Assert.Equal(ReleaseOutcome.Released, await Grains.ReleaseAsync(name, s.Id, id, token));
    }

    [Fact]
    public async Task Holder_query_shows_session_tag_token_owner_and_waiters()
    {
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        var ida = Guid.NewGuid();
        var ta = await Grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10), owner: "host-a pid 42");
        var idb = Guid.NewGuid();
        await Grains.Lock(name).Acquire(new AcquireRequest(b.Id, idb, AcquireMode.Wait, TimeSpan.Zero, "host-b", TimeSpan.Zero, Sequence: RequestNumbers.Of(b.Id, idb)));
        var info = await Grains.InfoAsync(name);
        Assert.Equal(new LockHolder(a.Info.Tag, ida, ta, "host-a pid 42"), info.Holder);
        Assert.Equal(new LockWaiter(b.Info.Tag, idb, "host-b"), Assert.Single(info.Waiters));
        Assert.DoesNotContain(a.Id, info.ToString(), StringComparison.Ordinal);
    }

    /// <summary>The operator listing pages through every held lock once, in name order, and through sessions by an opaque cursor that is never a session id.</summary>
    [Fact]
    public async Task Listings_page_through_held_locks_and_sessions_without_repeats_or_secret_ids()
    {
        var prefix = $"list/{Guid.NewGuid():N}/";
        await using var session = await TestSession.OpenAsync(Grains);
        string[] names = [.. Enumerable.Range(0, 5).Select(i => $"{prefix}{i}")];
        foreach (var name in names)
        {
            await Grains.AcquireAsync(name, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        }

        var listing = Grains.GetGrain<IClusterListingGrain>(0);
        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await listing.ListLocks(after, 2);
            Assert.True(page.Locks.Length <= 2, $"a page of 2 held {page.Locks.Length}");
            seen.AddRange(page.Locks.Select(l => l.Name).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)));
            Assert.All(page.Locks.Where(l => l.Name.StartsWith(prefix, StringComparison.Ordinal)), l => Assert.Equal(session.Info.Tag, l.Holder?.SessionTag));
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(names, seen);

        var tags = new List<string>();
        after = null;
        do
        {
            var page = await listing.ListSessions(after, 1);
            tags.AddRange(page.Sessions.Select(s => s.Tag));
            Assert.NotEqual(session.Id, page.Next);
            after = page.Next;
        }
        while (after is not null);
        Assert.Single(tags, session.Info.Tag);
        Assert.Equal(tags.Count, tags.Distinct().Count());
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.ListLocks(null, 0));
    }
}
