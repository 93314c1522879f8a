using System.Diagnostics;
using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>The explicit session object: TTL, remaining time, lost event, close, many locks per session, the client knowing first.</summary>
public sealed partial class SessionClientTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    /// <summary>How late a client timer may fire on a busy machine, beyond the deadline it was set for.</summary>
    private static readonly TimeSpan TimerLateness = TimeSpan.FromSeconds(1);

    private static string NewLock() => $"session/{Guid.NewGuid():N}";

    [Fact]
    public async Task A_client_opens_at_most_its_limit_of_sessions_and_a_closed_one_frees_a_place()
    {
        await using var client = fixture.Cluster.NewClient(o => o.MaxOpenSessions = 2);
        var first = await client.OpenSessionAsync();
        var second = await client.OpenSessionAsync();

        var refused = await Assert.ThrowsAsync<SessionLimitException>(() => client.OpenSessionAsync());
        Assert.Equal(2, refused.Limit);
        Assert.Contains("MaxOpenSessions", refused.Message, StringComparison.Ordinal);
        Assert.False(first.IsLost || second.IsLost, "a refused open leaves the open sessions alone");

        await first.CloseAsync();
        var third = await client.OpenSessionAsync();
        Assert.False(third.IsLost);
        await Assert.ThrowsAsync<SessionLimitException>(() => client.OpenSessionAsync());
        await second.CloseAsync();
        await third.CloseAsync();
    }

    [Fact]
    public async Task One_session_holds_many_locks_and_closing_it_releases_them_all_and_fires_lost()
    {
        var client = fixture.Cluster.NewClient();
        var session = await client.OpenSessionAsync();
        Assert.Equal(CoordinationCluster.Ttl, session.Ttl);
        Assert.InRange(session.Remaining, TimeSpan.FromSeconds(1), CoordinationCluster.Ttl);
        var names = Enumerable.Range(0, 5).Select(_ => NewLock()).ToList();
        var handles = new List<CoordinationLockHandle>();
        foreach (var name in names)
        {
            handles.Add(await session.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10)));
        }

        string? reason = null;
        session.Lost += (_, e) => reason = e.Reason;
        await session.CloseAsync();
        Assert.True(session.IsLost);
        Assert.Equal(TimeSpan.Zero, session.Remaining);
        Assert.Contains("closed", reason, StringComparison.Ordinal);
        Assert.All(handles, h => Assert.True(h.HandleLostToken.IsCancellationRequested));
        foreach (var name in names)
        {
            Assert.Null((await fixture.Cluster.Grains.InfoAsync(name)).Holder);
        }

        await Assert.ThrowsAsync<SessionExpiredException>(async () => await session.CreateLock(NewLock()).AcquireAsync(TimeSpan.FromSeconds(1)));
        foreach (var h in handles)
        {
            await h.DisposeAsync();
        }
    }

    [Fact]
    public async Task Keepalives_keep_a_session_alive_for_many_ttls()
    {
        var client = fixture.Cluster.NewClient();
        await using var session = await client.OpenSessionAsync();
        await using var handle = await session.CreateLock(NewLock()).AcquireAsync(TimeSpan.FromSeconds(10));
        var watch = Stopwatch.StartNew();
        await Eventually.Async(() => watch.Elapsed > CoordinationCluster.Ttl * 3 || session.IsLost, TimeSpan.FromSeconds(30), "three TTLs to pass");
        Assert.False(session.IsLost, session.LostReason);
        Assert.False(handle.HandleLostToken.IsCancellationRequested);
        Assert.True(session.Remaining > TimeSpan.Zero);
    }

    [Fact]
    public async Task Without_acknowledged_keepalives_the_client_gives_up_by_its_deadline_before_anyone_else_gets_the_lock()
    {
        var cluster = fixture.Cluster;
        var name = NewLock();
        var holder = cluster.NewClient();
        var session = await holder.OpenSessionAsync();
        var handle = await session.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        var competitor = cluster.NewClient();
        var lostAt = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        handle.HandleLostToken.Register(() => lostAt = clock.Elapsed);

        // The cluster keeps committing keepalives, but the client never hears back: it must assume the worst.
        cluster.Dropper.DropAllFor = session.Id;
        cluster.Dropper.DropAll = nameof(ISessionGrain.KeepAlive);
        try
        {
            await using var next = await competitor.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
            var grantedAt = clock.Elapsed;
            Assert.True(handle.HandleLostToken.IsCancellationRequested, "the competitor got the lock while the holder still believed it held it");
            Assert.True(lostAt < grantedAt, $"lost at {lostAt}, competitor granted at {grantedAt}");
            // The deadline is TTL·0.99 − 0.5 s after the last acknowledged keepalive's send; a timer of a busy two-core
            // machine (allowed: the full suite's run of 2026-12-04 saw one 0.8 s late) may fire up to a second after it.
            // The invariant is the order against the competitor's grant, checked above.
            Assert.True(lostAt <= CoordinationCluster.Ttl + TimerLateness, $"lost only at {lostAt}: later than a TTL after the last acknowledged keepalive, and {TimerLateness} of timer lateness");
        }
        finally
        {
            cluster.Dropper.DropAll = null;
            cluster.Dropper.DropAllFor = null;
            await handle.DisposeAsync();
            await session.DisposeAsync();
        }
    }

    /// <summary>
    /// A keepalive the server committed but whose reply was slow (a slow network, or the client paused just
    /// after it arrived), then no more keepalives: the server's lease ran from that commit, so the client must
    /// give up by a deadline counted from when it sent the keepalive, before the competitor is granted.
    /// </summary>
    [Fact]
    public async Task A_slow_keepalive_reply_does_not_carry_the_client_deadline_past_the_servers_lease()
    {
        var (lostAt, grantedAt) = await SlowKeepAliveReplyAsync(deadlineFromReceipt: false);
        Assert.True(lostAt < grantedAt, $"the holder learned it lost the lock at {lostAt}, after the competitor was granted at {grantedAt}");
    }

    /// <summary>
    /// The control: a client that counts its deadline from the reply's arrival believes it holds the lock after
    /// the competitor got it. The scenario depends on the slow keepalive being the one acknowledged last, which a
    /// loaded machine can upset (the call may give up before the slow reply), so it gets three attempts.
    /// </summary>
    [Fact]
    public async Task Control_a_client_deadline_counted_from_the_reply_is_caught()
    {
        var attempts = new List<string>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var (lostAt, grantedAt) = await SlowKeepAliveReplyAsync(deadlineFromReceipt: true);
            if (lostAt > grantedAt)
            {
                return;
            }

            attempts.Add($"lost at {lostAt}, competitor granted at {grantedAt}");
        }

        Assert.Fail($"the broken client still learned first in every attempt ({string.Join("; ", attempts)}): the scenario cannot tell the two apart");
    }

    private async Task<(TimeSpan LostAt, TimeSpan GrantedAt)> SlowKeepAliveReplyAsync(bool deadlineFromReceipt)
    {
        var cluster = fixture.Cluster;
        var name = NewLock();
        var holder = cluster.NewClient(new ClientFaults { DeadlineFromReceipt = deadlineFromReceipt });
        var session = await holder.OpenSessionAsync();
        var handle = await session.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();
        var lostAt = TimeSpan.MaxValue;
        handle.HandleLostToken.Register(() => lostAt = clock.Elapsed);
        cluster.Dropper.DelayOnceThenBlock(nameof(ISessionGrain.KeepAlive), session.Id, TimeSpan.FromSeconds(1));
        try
        {
            await using var next = await cluster.NewClient().CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
            var grantedAt = clock.Elapsed;
            await Eventually.Async(() => handle.HandleLostToken.IsCancellationRequested, TimeSpan.FromSeconds(10), "the holder's lost signal");
            return (lostAt, grantedAt);
        }
        finally
        {
            cluster.Dropper.ClearSlow();
            await handle.DisposeAsync();
            await session.DisposeAsync();
        }
    }
}
