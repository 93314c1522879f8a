using System.Diagnostics;
using Coordination.Grains.Sessions;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Coordination.Cluster.Tests;

/// <summary>
/// The operator listings behind the coordination page: a search by name prefix pages through exactly the held locks,
/// led elections, semaphores and reader-writer locks that have it, with their holders' lease; sessions show theirs; an audited revoke records its
/// operator and reason, and bad input changes nothing. Beside them, the ping behind the benchmark's floors
/// (<see cref="IPingGrain"/>): it answers each caller with its own value, and its replica variant needs another
/// silo's replica to answer.
/// </summary>
public sealed class ListingSearchTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private IGrainFactory Grains => fixture.Cluster.Grains;

    [Fact]
    public async Task A_prefix_search_pages_through_exactly_the_matching_held_locks_with_their_lease()
    {
        var root = $"search/{Guid.NewGuid():N}/";
        await using var session = await TestSession.OpenAsync(Grains);
        string[] jobs = [$"{root}jobs", .. Enumerable.Range(0, 5).Select(i => $"{root}jobs/{i}")];
        foreach (var name in jobs.Append($"{root}jobt").Append($"{root}other"))
        {
            await Grains.AcquireAsync(name, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        }

        var listing = Grains.GetGrain<IClusterListingGrain>(0);
        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await listing.FindLocks($"{root}jobs", after, 2);
            Assert.True(page.Locks.Length <= 2, $"a page of 2 held {page.Locks.Length}");
            foreach (var l in page.Locks)
            {
                var lease = Assert.Contains(l.Name, page.LeaseRemaining!);
                Assert.InRange(lease, TimeSpan.Zero, CoordinationCluster.Ttl);
            }

            seen.AddRange(page.Locks.Select(l => l.Name));
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(jobs, seen); // the whole name "jobs" first, then "jobs/0".."jobs/4"; never "jobt" or "other"

        Assert.Equal([$"{root}jobs"], (await listing.FindLocks($"{root}jobs", null, 1)).Locks.Select(l => l.Name));
        Assert.Empty((await listing.FindLocks($"{root}jobs", $"{root}jobt", 10)).Locks);
        Assert.Equal(jobs.Skip(3), (await listing.FindLocks($"{root}jobs", $"{root}jobs/1", 10)).Locks.Select(l => l.Name));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.FindLocks("bad\u0001prefix", null, 10));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.FindLocks(root, null, 0));

        var sessions = new List<SessionSummary>();
        after = null;
        do
        {
            var page = await listing.ListSessions(after, 100);
            sessions.AddRange(page.Sessions);
            after = page.Next;
        }
        while (after is not null);
        var mine = Assert.Single(sessions, s => s.Tag == session.Info.Tag);
        Assert.Equal(jobs.Length + 2, mine.Holdings);
        Assert.InRange(mine.Remaining!.Value, TimeSpan.Zero, CoordinationCluster.Ttl);
    }

    [Fact]
    public async Task Semaphores_and_reader_writer_locks_are_listed_by_prefix_with_each_holders_lease_and_left_out_once_free()
    {
        var root = $"search/{Guid.NewGuid():N}/";
        await using var a = fixture.Cluster.NewClient(o => o.Owner = "host-a");
        await using var b = fixture.Cluster.NewClient(o => o.Owner = "host-b");
        var (busy, quiet, freed) = ($"{root}sem/busy", $"{root}sem/quiet", $"{root}sem/freed");
        await using var p1 = await a.CreateSemaphore(busy, 2).AcquireAsync();
        await using var p2 = await a.CreateSemaphore(busy, 2).AcquireAsync();
        var waiting = b.CreateSemaphore(busy, 2).AcquireAsync(TimeSpan.FromSeconds(60)).AsTask();
        await using var q1 = await b.CreateSemaphore(quiet, 3).AcquireAsync();
        await (await a.CreateSemaphore(freed, 1).AcquireAsync()).DisposeAsync();
        await using var r1 = await a.CreateReaderWriterLock($"{root}rw/read").AcquireReadLockAsync();
        await using var r2 = await b.CreateReaderWriterLock($"{root}rw/read").AcquireReadLockAsync();
        await using var w = await b.CreateReaderWriterLock($"{root}rw/write").AcquireWriteLockAsync();
        var listing = Grains.GetGrain<IClusterListingGrain>(0);

        await Eventually.Async(async () => (await listing.FindSemaphores(busy, null, 10)).Locks.SingleOrDefault()?.Waiters.Length == 1, TimeSpan.FromSeconds(30), "the third acquire of the busy semaphore queued");
        var semaphores = new List<SharedLockInfo>();
        string? after = null;
        do
        {
            var page = await listing.FindSemaphores($"{root}sem/", after, 1);
            Assert.True(page.Locks.Length <= 1, $"a page of 1 held {page.Locks.Length}");
            foreach (var holder in page.Locks.SelectMany(l => l.Holders))
            {
                Assert.InRange(Assert.Contains(holder.RequestId, page.LeaseRemaining!), TimeSpan.Zero, CoordinationCluster.Ttl);
            }

            semaphores.AddRange(page.Locks);
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal([busy, quiet], semaphores.Select(l => l.Name)); // the freed one is left out
        var busyInfo = semaphores[0];
        Assert.Equal(2, busyInfo.MaxCount);
        Assert.Equal([p1.FencingToken, p2.FencingToken], busyInfo.Holders.Select(h => h.FencingToken).Order());
        Assert.All(busyInfo.Holders, h => Assert.Equal("host-a", h.Owner));
        Assert.Equal("host-b", Assert.Single(busyInfo.Waiters).Owner);
        Assert.Equal((3, q1.FencingToken), (semaphores[1].MaxCount, Assert.Single(semaphores[1].Holders).FencingToken));

        var readerWriter = await listing.FindReaderWriterLocks($"{root}rw/", null, 10);
        Assert.Equal([$"{root}rw/read", $"{root}rw/write"], readerWriter.Locks.Select(l => l.Name));
        Assert.Equal(["host-a", "host-b"], readerWriter.Locks[0].Holders.Select(h => h.Owner).Order());
        Assert.All(readerWriter.Locks[0].Holders, h => Assert.Equal(ReaderWriterAccess.Read, h.Access));
        Assert.Equal((ReaderWriterAccess.Write, w.FencingToken), (Assert.Single(readerWriter.Locks[1].Holders).Access, readerWriter.Locks[1].Holders[0].FencingToken));
        Assert.All(readerWriter.Locks.SelectMany(l => l.Holders), h => Assert.Contains(h.RequestId, readerWriter.LeaseRemaining!));

        // Each kind is its own listing: none of these is a lock, and no lock or reader-writer lock is a semaphore.
        Assert.Empty((await listing.FindLocks(root, null, 10)).Locks);
        Assert.Empty((await listing.FindSemaphores($"{root}rw/", null, 10)).Locks);
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.FindSemaphores("bad\u0001prefix", null, 10));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => listing.FindReaderWriterLocks(root, null, 1001));

        await p1.DisposeAsync();
        await using var granted = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        await p2.DisposeAsync();
        var handedOn = Assert.Single((await listing.FindSemaphores(busy, null, 10)).Locks);
        Assert.Equal(("host-b", granted.FencingToken), (Assert.Single(handedOn.Holders).Owner, handedOn.Holders[0].FencingToken));
        Assert.Empty(handedOn.Waiters);
    }

    /// <summary>Request ids are the clients' own: two holders that share one (two sessions, or two names on one page) do not break the listing.</summary>
    [Fact]
    public async Task A_request_id_two_holders_share_lists_both_with_the_shorter_lease()
    {
        var root = $"search/{Guid.NewGuid():N}/shared-id/";
        await using var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains, CoordinationCluster.Ttl * 2);
        var id = Guid.NewGuid();
        foreach (var (session, name) in new[] { (a, $"{root}one"), (b, $"{root}one"), (a, $"{root}two") })
        {
            var request = new SemaphoreAcquireRequest(session.Id, id, 2, AcquireMode.Wait, TimeSpan.Zero, null, Sequence: RequestNumbers.Of(session.Id, id));
            Assert.Equal(AcquireStatus.Granted, (await Grains.GetGrain<ISemaphoreGrain>(name).Acquire(request)).Status);
        }

        var page = await Grains.GetGrain<IClusterListingGrain>(0).FindSemaphores(root, null, 10);

        Assert.Equal([2, 1], page.Locks.Select(l => l.Holders.Length));
        Assert.InRange(Assert.Contains(id, page.LeaseRemaining!), TimeSpan.Zero, CoordinationCluster.Ttl);
    }

    [Fact]
    public async Task A_session_shows_its_owner_to_operators_and_a_bad_owner_opens_nothing()
    {
        var manager = Grains.GetGrain<ISessionManagerGrain>(0);
        var info = await manager.Open(CoordinationCluster.Ttl, "billing on host-a pid 7");
        Assert.Equal("billing on host-a pid 7", info.Owner);
        Assert.Equal("billing on host-a pid 7", (await Grains.GetGrain<ISessionGrain>(info.SessionId).GetInfo()).Owner);
        var listing = Grains.GetGrain<IClusterListingGrain>(0);
        var sessions = new List<SessionSummary>();
        string? after = null;
        do
        {
            var page = await listing.ListSessions(after, 100);
            sessions.AddRange(page.Sessions);
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal("billing on host-a pid 7", Assert.Single(sessions, s => s.Tag == info.Tag).Owner);

        var error = await Assert.ThrowsAsync<CoordinationArgumentException>(() => manager.Open(CoordinationCluster.Ttl, "bad\u0001owner"));
        Assert.Contains("owner", error.Message, StringComparison.Ordinal);
        await Grains.GetGrain<ISessionGrain>(info.SessionId).Close();
    }

    [Fact]
    public async Task An_audited_revoke_records_operator_and_reason_and_bad_input_changes_nothing()
    {
        var name = $"search/{Guid.NewGuid():N}/revoked";
        await using var session = await TestSession.OpenAsync(Grains);
        var token = await Grains.AcquireAsync(name, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        var admin = Grains.GetGrain<IClusterAdminGrain>(0);
        var before = await admin.GetView();

        await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.RevokeLock(name, "a reason", " "));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.RevokeLock(name, string.Empty, "alice"));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.RevokeLock(name, "a reason", "bad\u0001operator"));
        await Assert.ThrowsAsync<InvalidNameException>(() => admin.RevokeLock("bad\u0001name", "a reason", "alice"));
        Assert.Equal(token, (await Grains.InfoAsync(name)).Holder?.FencingToken);
        Assert.Equal(before.Audit.Length, (await admin.GetView()).Audit.Length);

        var revoked = await admin.RevokeLock(name, "stuck job", "alice");
        Assert.Equal(token, revoked.Revoked?.FencingToken);
        Assert.Null((await Grains.InfoAsync(name)).Holder);
        var entry = (await admin.GetView()).Audit[^1];
        Assert.Equal(("alice", "stuck job"), (entry.Operator, entry.Reason));
        Assert.Contains($"revoke-lock {name}", entry.Action, StringComparison.Ordinal);
        Assert.Contains($"token {token}", entry.Action, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revokes_from_the_client_library_are_audited_with_the_clients_owner_and_leadership_can_be_revoked()
    {
        var holder = fixture.Cluster.NewClient();
        var admin = fixture.Cluster.NewClient(o => o.Owner = "billing-ops on host-a");
        var (lockName, election) = ($"search/{Guid.NewGuid():N}/lock", $"search/{Guid.NewGuid():N}/election");
        await using var held = await holder.CreateLock(lockName).AcquireAsync();
        await using var leadership = await holder.CreateElection(election).CampaignAsync("leader");
        var view = Grains.GetGrain<IClusterAdminGrain>(0);

        var revoked = await admin.RevokeLockAsync(lockName, "stuck export");
        Assert.Equal(held.FencingToken, revoked.Revoked?.FencingToken);
        var entry = (await view.GetView()).Audit[^1];
        Assert.Equal(("billing-ops on host-a", "stuck export"), (entry.Operator, entry.Reason));
        Assert.Contains($"revoke-lock {lockName}", entry.Action, StringComparison.Ordinal);

        var dethroned = await admin.RevokeLeadershipAsync(election, "failing over by hand");
        Assert.NotNull(dethroned.Revoked);
        Assert.Contains($"revoke-leadership {election}", (await view.GetView()).Audit[^1].Action, StringComparison.Ordinal);
        await Eventually.Async(() => leadership.LeadershipLostToken.IsCancellationRequested, TimeSpan.FromSeconds(30), "the revoked leader to hear it");

        var before = (await view.GetView()).Audit.Length;
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.RevokeLeadershipAsync(election, " "));
        await Assert.ThrowsAsync<InvalidNameException>(() => admin.RevokeLeadershipAsync("bad\nname", "reason"));
        Assert.Equal(before, (await view.GetView()).Audit.Length);
    }

    /// <summary>
    /// An operator revokes a stuck process's session by its tag: the holder's client hears it (its handles' lost tokens
    /// fire) and closes it, and what it held goes to a waiter only after its lock-delay; the client's next acquire opens a
    /// new session. Audited; bad input changes nothing.
    /// </summary>
    [Fact]
    public async Task An_operator_revokes_a_session_by_its_tag_and_its_client_hears_before_its_lock_goes_to_a_waiter()
    {
        var name = $"search/{Guid.NewGuid():N}/session-revoke";
        var lockDelay = TimeSpan.FromSeconds(1.5);
        await using var holder = fixture.Cluster.NewClient(o => (o.Owner, o.LockDelay) = ("stuck-worker", lockDelay));
        await using var waiter = fixture.Cluster.NewClient();
        await using var admin = fixture.Cluster.NewClient(o => o.Owner = "ops on host-z");
        await using var held = await holder.CreateLock(name).AcquireAsync();
        await using var permit = await holder.CreateSemaphore(name, 2).AcquireAsync();
        var lostAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        held.HandleLostToken.Register(() => lostAt.TrySetResult(Stopwatch.GetTimestamp()));
        var tag = (await holder.CreateLock(name).GetInfoAsync()).Holder!.SessionTag;
        var waiting = Task.Run(async () =>
        {
            var handle = await waiter.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60));
            return (Handle: handle, At: Stopwatch.GetTimestamp());
        });
        await Eventually.Async(async () => (await waiter.CreateLock(name).GetInfoAsync()).Waiters.Length == 1, TimeSpan.FromSeconds(30), "the waiter queued");
        var audit = Grains.GetGrain<IClusterAdminGrain>(0);
        var before = (await audit.GetView()).Audit.Length;

        await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.RevokeSessionAsync("not-a-tag", "stuck"));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.RevokeSessionAsync(tag, " "));
        var unknown = tag == "000000000000" ? "000000000001" : "000000000000";
        Assert.Equal(unknown, (await Assert.ThrowsAsync<SessionNotFoundException>(() => admin.RevokeSessionAsync(unknown, "stuck"))).SessionId);
        Assert.Equal(before, (await audit.GetView()).Audit.Length);
        Assert.False(held.HandleLostToken.IsCancellationRequested, "bad input revoked the session");

        using var revokes = new MetricCollector<long>(null, "Coordination.Grains", "coordination.session.revokes");
        var result = await admin.RevokeSessionAsync(tag.ToUpperInvariant(), "stuck worker");
        Assert.Equal(1, revokes.GetMeasurementSnapshot().Sum(m => m.Value));
        var heard = await lostAt.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var (next, grantedAt) = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        await using var _ = next;
        Assert.True(heard < grantedAt, "the lock went to the waiter before the revoked session's client heard it had lost it");
        Assert.True(Stopwatch.GetElapsedTime(heard, grantedAt) >= lockDelay, $"the lock went to the waiter {Stopwatch.GetElapsedTime(heard, grantedAt).TotalMilliseconds:0} ms after its revoked holder heard, within its {lockDelay.TotalSeconds} s lock-delay");
        Assert.True(permit.HandleLostToken.IsCancellationRequested, "the permit of the revoked session was not lost with it");

        Assert.False(result.AlreadyEnded);
        Assert.Equal((tag, "stuck-worker", "stuck worker", SessionStatus.Alive), (result.Session.Tag, result.Session.Owner, result.Session.Revoked, result.Session.Status));
        Assert.Equal(2, result.Session.Holdings);
        Assert.InRange(result.Session.Remaining!.Value, TimeSpan.Zero, CoordinationCluster.Ttl);
        var entry = (await audit.GetView()).Audit[^1];
        Assert.Equal(("ops on host-z", "stuck worker"), (entry.Operator, entry.Reason));
        Assert.Contains($"revoke-session {tag}", entry.Action, StringComparison.Ordinal);
        Assert.True((await admin.RevokeSessionAsync(tag, "again")).AlreadyEnded);
        Assert.Equal(1, revokes.GetMeasurementSnapshot().Sum(m => m.Value));

        await using var again = await holder.CreateLock($"{name}/next").AcquireAsync(TimeSpan.FromSeconds(30));
        Assert.NotEqual(tag, (await holder.CreateLock($"{name}/next").GetInfoAsync()).Holder!.SessionTag);
    }

    /// <summary>
    /// A revoked session refuses its keepalives and every new acquire at once (a name in a shard the session already uses,
    /// checked on the session's own record, and one in a shard it does not), but keeps what it holds until its lease runs
    /// out: the lock is not free before a TTL has passed since the last keepalive it acknowledged.
    /// </summary>
    [Fact]
    public async Task A_revoked_session_refuses_keepalives_and_new_acquires_and_keeps_its_lock_until_its_lease_ends()
    {
        var name = $"search/{Guid.NewGuid():N}/kept";
        var ttl = TimeSpan.FromSeconds(6);
        await using var session = await TestSession.OpenAsync(Grains, ttl);
        await Grains.AcquireAsync(name, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        var shard = SessionShards.Of(Holding.Lock(name));
        var sameShard = Enumerable.Range(0, 100_000).Select(i => $"{name}/{i}").First(n => SessionShards.Of(Holding.Lock(n)) == shard);
        var otherShard = Enumerable.Range(0, 100_000).Select(i => $"{name}/{i}").First(n => SessionShards.Of(Holding.Lock(n)) != shard);

        await Grains.GetGrain<IClusterAdminGrain>(0).RevokeSession(session.Info.Tag, "stuck", "alice");

        var keepAlive = await Assert.ThrowsAsync<SessionExpiredException>(() => session.Grain.KeepAlive(0));
        Assert.Contains("revoked by an operator: stuck", keepAlive.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SessionExpiredException>(() => Grains.AcquireAsync(sameShard, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<SessionExpiredException>(() => Grains.AcquireAsync(otherShard, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(5)));
        var lastAcked = session.LastAckedSend;
        await Eventually.Async(async () => (await Grains.InfoAsync(name)).Holder is null, TimeSpan.FromSeconds(30), "the lock freed once the revoked session's lease ran out");
        var freedAt = DateTime.UtcNow;
        Assert.True(freedAt >= lastAcked + ttl, $"the lock was free {(lastAcked + ttl - freedAt).TotalMilliseconds:0} ms before the revoked session's lease could have run out");
        Assert.Equal(SessionStatus.Expired, (await session.Grain.GetInfo()).Status);
    }

    /// <summary>
    /// A client hears of its session's revoke from its next acquire as well as from its next keepalive: every handle's lost
    /// token has fired when the refused acquire throws (its keepalives are minutes apart here), and the call after opens a new session.
    /// </summary>
    [Fact]
    public async Task A_client_whose_acquire_is_refused_for_a_revoked_session_marks_it_lost_at_once_and_opens_a_new_one()
    {
        var name = $"search/{Guid.NewGuid():N}/refused";
        await using var client = fixture.Cluster.NewClient(o => o.SessionTtl = TimeSpan.FromMinutes(5));
        await using var held = await client.CreateLock(name).AcquireAsync();
        var tag = (await client.CreateLock(name).GetInfoAsync()).Holder!.SessionTag;

        await Grains.GetGrain<IClusterAdminGrain>(0).RevokeSession(tag, "stuck", "alice");

        await Assert.ThrowsAsync<SessionExpiredException>(async () => await client.CreateLock($"{name}/other").AcquireAsync());
        Assert.True(held.HandleLostToken.IsCancellationRequested, "the held lock's lost token had not fired when an acquire was refused for its revoked session");
        await using var next = await client.CreateLock($"{name}/other").AcquireAsync(TimeSpan.FromSeconds(30));
        Assert.NotEqual(tag, (await client.CreateLock($"{name}/other").GetInfoAsync()).Holder!.SessionTag);
    }

    /// <summary>The same for a value set bound to the session: its refusal marks the session lost at once, and the next set opens a new one.</summary>
    [Fact]
    public async Task A_client_whose_ephemeral_value_is_refused_for_a_revoked_session_marks_it_lost_at_once_and_opens_a_new_one()
    {
        var name = $"search/{Guid.NewGuid():N}/refused-value";
        await using var client = fixture.Cluster.NewClient(o => o.SessionTtl = TimeSpan.FromMinutes(5));
        await using var held = await client.CreateLock(name).AcquireAsync();
        var tag = (await client.CreateLock(name).GetInfoAsync()).Holder!.SessionTag;

        await Grains.GetGrain<IClusterAdminGrain>(0).RevokeSession(tag, "stuck", "alice");

        var refused = await Assert.ThrowsAsync<SessionExpiredException>(() => client.CreateValue($"{name}/value").SetEphemeralAsync("first"));
        Assert.Contains("stuck", refused.Message, StringComparison.Ordinal);
        Assert.True(held.HandleLostToken.IsCancellationRequested, "the held lock's lost token had not fired when a value set was refused for its revoked session");
        var set = await client.CreateValue($"{name}/value").SetEphemeralAsync("second");
        Assert.Equal("second", set.Current.Value);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_ping_returns_its_value_to_every_concurrent_caller(bool throughReplica)
    {
        var ping = Grains.GetGrain<IPingGrain>(0);
        var values = Enumerable.Range(1, 64).Select(i => (long)i * 7919).ToArray();

        var answers = await Task.WhenAll(values.Select(v => throughReplica ? ping.PingThroughReplica(v) : ping.Ping(v)));

        Assert.Equal(values, answers);
    }

    [Fact]
    public async Task A_ping_through_a_replica_fails_with_a_typed_error_while_replica_traffic_is_cut()
    {
        var ping = Grains.GetGrain<IPingGrain>(0);
        var metadata = await fixture.Cluster.MetadataAsync();
        try
        {
            foreach (var member in metadata.Partitions.First(p => p.IsAssigned).Members)
            {
                fixture.Cluster.Partitions.Isolate(member.Id.Value);
            }

            await Assert.ThrowsAsync<QuorumUnavailableException>(() => ping.PingThroughReplica(1));
            Assert.Equal(2, await ping.Ping(2));
        }
        finally
        {
            fixture.Cluster.Partitions.HealAll();
        }

        Assert.Equal(3, await ping.PingThroughReplica(3));
    }
}
