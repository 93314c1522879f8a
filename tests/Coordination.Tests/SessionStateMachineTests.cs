using Coordination.Grains.Sessions;

namespace Coordination.Tests;

public sealed class SessionStateMachineTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    [Fact]
    public void Keepalive_counts_and_returns_unacknowledged_notices()
    {
        var r = SessionRecord.Open(Ttl);
        r = SessionStateMachine.Notify(r, "a", Guid.NewGuid(), 5, "maintenance");
        r = SessionStateMachine.Notify(r, "b", Guid.NewGuid(), 6, "maintenance");
        var (next, result) = SessionStateMachine.KeepAlive(r, "s", acknowledgedNotice: 1, settledThrough: 4);
        Assert.Equal(1, next.KeepAlives);
        Assert.Equal(4, next.SettledThrough);
        Assert.Equal(Ttl, result.Ttl);
        Assert.Equal("b", Assert.Single(result.Notices).LockName);
    }

    [Fact]
    public void Expiry_commits_only_if_no_keepalive_was_committed_since_it_was_observed()
    {
        var r = SessionRecord.Open(Ttl);
        var (kept, _) = SessionStateMachine.KeepAlive(r, "s", 0, 0);
        var (stale, expiredStale) = SessionStateMachine.Expire(kept, observedKeepAlives: 0);
        Assert.False(expiredStale);
        Assert.Same(kept, stale);
        var (ended, expired) = SessionStateMachine.Expire(kept, observedKeepAlives: 1);
        Assert.True(expired);
        Assert.Equal(SessionStatus.Expired, ended!.Status);
    }

    /// <summary>A session's status, or null for a session that has no record.</summary>
    public static TheoryData<SessionStatus?, Type> Dead => new()
    {
        { null, typeof(SessionNotFoundException) },
        { SessionStatus.Expired, typeof(SessionExpiredException) },
        { SessionStatus.Closed, typeof(SessionExpiredException) },
    };

    [Theory]
    [MemberData(nameof(Dead))]
    public void Keepalive_and_attach_on_a_missing_or_ended_session_throw_typed_errors(SessionStatus? status, Type error)
    {
        var record = status is { } ended ? SessionRecord.Open(Ttl) with { Status = ended } : null;
        Assert.Throws(error, () => SessionStateMachine.KeepAlive(record, "s", 0, 0));
        Assert.Throws(error, () => SessionStateMachine.UseShard(record, "s", 3));
    }

    [Fact]
    public void A_revoked_session_refuses_keepalives_and_new_shards_but_stays_alive_until_its_lease_runs_out()
    {
        var (kept, _) = SessionStateMachine.KeepAlive(SessionStateMachine.UseShard(SessionRecord.Open(Ttl), "s", 3), "s", 0, 0);
        var revoked = SessionStateMachine.Revoke(kept, "s", "stuck worker");

        Assert.True(revoked.IsAlive); // what it holds stays attached: nothing is released before its lease runs out
        Assert.Same(revoked, SessionStateMachine.RequireAlive(revoked, "s"));
        var refused = Assert.Throws<SessionExpiredException>(() => SessionStateMachine.KeepAlive(revoked, "s", 0, 0));
        Assert.Contains("revoked by an operator: stuck worker", refused.Message, StringComparison.Ordinal);
        Assert.Throws<SessionExpiredException>(() => SessionStateMachine.UseShard(revoked, "s", 4));
        Assert.Throws<SessionExpiredException>(() => SessionStateMachine.UseShard(revoked, "s", 3));
        Assert.Same(revoked, SessionStateMachine.Revoke(revoked, "s", "again")); // the first reason stays
        Assert.Equal("stuck worker", revoked.Revoked);
        Assert.Same(revoked, SessionStateMachine.Notify(revoked, "a", Guid.NewGuid(), 5, "maintenance")); // told already: no notice piles up
        Assert.Equal(SessionStatus.Expired, SessionStateMachine.Close(revoked, "s").Status); // its client's close is no graceful release

        var (expired, ended) = SessionStateMachine.Expire(revoked, observedKeepAlives: 1);
        Assert.True(ended);
        Assert.Equal((SessionStatus.Expired, "stuck worker"), (expired!.Status, expired.Revoked));
        Assert.Same(expired, SessionStateMachine.Revoke(expired, "s", "late")); // an ended session is left as it is
        Assert.Throws<SessionNotFoundException>(() => SessionStateMachine.Revoke(null, "s", "gone"));
    }

    [Fact]
    public void Expiry_and_close_are_final()
    {
        var closed = SessionStateMachine.Close(SessionRecord.Open(Ttl), "s");
        Assert.Equal(SessionStatus.Closed, closed.Status);
        Assert.Same(closed, SessionStateMachine.Close(closed, "s"));
        Assert.False(SessionStateMachine.Expire(closed, 0).Expired);
    }

    [Fact]
    public void Shards_are_kept_until_an_ended_session_has_emptied_them_then_the_session_is_deleted()
    {
        var r = SessionStateMachine.UseShard(SessionRecord.Open(Ttl), "s", 3);
        r = SessionStateMachine.UseShard(r, "s", 9);
        Assert.Same(r, SessionStateMachine.UseShard(r, "s", 9));
        Assert.Same(r, SessionStateMachine.ShardGone(r, 3));
        Assert.Same(r, SessionStateMachine.DeleteIfDone(r));
        var ended = SessionStateMachine.Close(r, "s");
        var one = SessionStateMachine.ShardGone(ended, 3)!;
        Assert.Equal([9], one.Shards);
        Assert.Same(one, SessionStateMachine.DeleteIfDone(one));
        Assert.Null(SessionStateMachine.DeleteIfDone(SessionStateMachine.ShardGone(one, 9)));
    }

    [Fact]
    public void A_revoke_notice_is_never_dropped_a_full_inbox_refuses_the_revoke_instead()
    {
        var r = SessionRecord.Open(Ttl);
        for (var i = 0; i < SessionStateMachine.MaxNotices; i++)
        {
            r = SessionStateMachine.Notify(r, $"l{i}", Guid.NewGuid(), i + 1, "maintenance")!;
        }

        Assert.Throws<RevokeRefusedException>(() => SessionStateMachine.Notify(r, "one-more", Guid.NewGuid(), 99, "maintenance"));
        Assert.Equal(SessionStateMachine.MaxNotices, r.Notices.Count);
        var (acked, _) = SessionStateMachine.KeepAlive(r, "s", acknowledgedNotice: 1, settledThrough: 0);
        Assert.Equal("one-more", SessionStateMachine.Notify(acked, "one-more", Guid.NewGuid(), 99, "maintenance")!.Notices[^1].LockName);
    }
}
