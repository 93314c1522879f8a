using Coordination.Grains.Elections;
using Coordination.Grains.Leases;

namespace Coordination.Tests;

public sealed class ElectionStateMachineTests
{
    private const long Epoch = 1;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private static LockRequest Candidate(string session, int id, string value) => new(session, Guid.Parse($"00000000-0000-0000-0000-{id:D12}"), null, TimeSpan.Zero, Ttl, value);

    private static ElectionRecord Campaign(ElectionRecord? r, LockRequest c) =>
        ElectionStateMachine.Normalize(r, LockStateMachine.Acquire(r?.Queue, c, AcquireMode.Wait, Epoch).Next);

    [Fact]
    public void The_first_candidate_is_elected_with_its_value_at_revision_one()
    {
        var r = Campaign(null, Candidate("s1", 1, "host-a"));
        Assert.Equal(1, r.Revision);
        var e = Assert.Single(r.History);
        Assert.Equal((1L, ElectionEventKind.Elected, "host-a"), (e.Revision, e.Kind, e.Leader!.Payload));
    }

    [Fact]
    public void Queued_candidates_change_no_revision_and_resigning_elects_the_next_at_once()
    {
        var a = Candidate("s1", 1, "a");
        var r = Campaign(null, a);
        r = Campaign(r, Candidate("s2", 2, "b"));
        Assert.Equal(1, r.Revision);
        var term = r.Queue.Holder!.Token;
        var (queue, _) = LockStateMachine.Release(r.Queue, "E", "s1", a.RequestId, term, Epoch);
        r = ElectionStateMachine.Normalize(r, queue);
        Assert.Equal(2, r.Revision);
        Assert.Equal(("b", ElectionEventKind.Elected), (r.Queue.Holder!.Payload, r.History[^1].Kind));
        Assert.True(r.Queue.Holder.Token > term);
    }

    [Fact]
    public void Only_the_leader_of_the_term_can_proclaim_and_a_proclaim_is_a_revision()
    {
        var a = Candidate("s1", 1, "a");
        var r = Campaign(null, a);
        var term = r.Queue.Holder!.Token;
        Assert.Throws<NotLeaderException>(() => ElectionStateMachine.Proclaim(r.Queue, "E", "s2", a.RequestId, term, "x"));
        Assert.Throws<NotLeaderException>(() => ElectionStateMachine.Proclaim(r.Queue, "E", "s1", a.RequestId, term - 1, "x"));
        r = ElectionStateMachine.Normalize(r, ElectionStateMachine.Proclaim(r.Queue, "E", "s1", a.RequestId, term, "new"));
        Assert.Equal((2L, ElectionEventKind.Proclaimed, "new"), (r.Revision, r.History[^1].Kind, r.History[^1].Leader!.Payload));
        Assert.Same(r.Queue, ElectionStateMachine.Proclaim(r.Queue, "E", "s1", a.RequestId, term, "new"));
    }

    [Fact]
    public void A_leader_whose_session_ends_leaves_the_election_vacant_or_to_the_next_candidate()
    {
        var r = Campaign(null, Candidate("s1", 1, "a"));
        var vacant = ElectionStateMachine.Normalize(r, LockStateMachine.SessionEnded(r.Queue, "s1", SessionEnd.Expired, Epoch).Next);
        Assert.Equal((2L, ElectionEventKind.Vacant), (vacant.Revision, vacant.History[^1].Kind));
        Assert.Null(vacant.History[^1].Leader);
    }

    [Fact]
    public void Observers_get_every_revision_after_theirs_in_order_or_a_resync_when_behind()
    {
        ElectionRecord? r = null;
        for (var i = 1; i <= ElectionStateMachine.MaxHistory + 10; i++)
        {
            var c = Candidate($"s{i}", i, $"v{i}");
            r = Campaign(r, c);
            r = ElectionStateMachine.Normalize(r, LockStateMachine.Release(r.Queue, "E", c.SessionId, c.RequestId, r.Queue.Holder!.Token, Epoch).Next);
        }

        Assert.Equal(ElectionStateMachine.MaxHistory, r!.History.Count);
        var recent = ElectionStateMachine.Observe(r, "E", r.Revision - 3);
        Assert.False(recent.Resync);
        Assert.Equal([r.Revision - 2, r.Revision - 1, r.Revision], recent.Events.Select(e => e.Revision));
        var behind = ElectionStateMachine.Observe(r, "E", 1);
        Assert.True(behind.Resync);
        Assert.Empty(behind.Events);
        Assert.Equal(r.Revision, behind.Revision);
        var future = ElectionStateMachine.Observe(r, "E", r.Revision + 5);
        Assert.True(future.Resync);
        Assert.Empty(ElectionStateMachine.Observe(r, "E", r.Revision).Events);
    }

    [Fact]
    public void Large_values_shorten_the_retained_history_but_never_below_the_latest_revision()
    {
        ElectionRecord? r = null;
        var value = new string('v', ElectionStateMachine.MaxValueBytes);
        for (var i = 1; i <= 40; i++)
        {
            var c = Candidate($"s{i}", i, value);
            r = Campaign(r, c);
            r = ElectionStateMachine.Normalize(r, LockStateMachine.Release(r.Queue, "E", c.SessionId, c.RequestId, r.Queue.Holder!.Token, Epoch).Next);
        }

        Assert.True(r!.History.Sum(e => e.Leader?.Payload?.Length ?? 0) <= ElectionStateMachine.MaxHistoryValueChars);
        Assert.True(r.History.Count < 80, $"kept {r.History.Count} revisions of 4 KB values");
        Assert.Equal(r.Revision, r.History[^1].Revision);
        Assert.Equal(Enumerable.Range(0, r.History.Count).Select(k => r.Revision - r.History.Count + 1 + k), r.History.Select(e => e.Revision));
        Assert.True(ElectionStateMachine.Observe(r, "E", r.History[0].Revision - 2).Resync);
    }

    [Fact]
    public void A_queue_refuses_waiters_beyond_its_bounds_with_a_typed_error()
    {
        var full = LockRecord.Empty with { Waiters = [.. Enumerable.Range(0, LockStateMachine.MaxWaiters).Select(i => Candidate($"s{i}", i, "v"))] };
        Assert.Throws<QueueFullException>(() => LockStateMachine.EnsureRoom(full, Candidate("late", 1, "v"), "E"));
        var heavy = LockRecord.Empty with { Waiters = [.. Enumerable.Range(0, 64).Select(i => Candidate($"s{i}", i, new string('v', ElectionStateMachine.MaxValueBytes)))] };
        Assert.Throws<QueueFullException>(() => LockStateMachine.EnsureRoom(heavy, Candidate("late", 1, "v"), "E"));
        LockStateMachine.EnsureRoom(heavy, Candidate("late", 1, null!), "E");
    }

    [Fact]
    public void Leader_values_are_bounded() =>
        Assert.Throws<CoordinationArgumentException>(() => ElectionStateMachine.ValidateValue(new string('v', ElectionStateMachine.MaxValueBytes + 1)));
}
