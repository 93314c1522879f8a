using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;

namespace Coordination.Tests;

/// <summary>The rules of covered acquires (<see cref="SessionCovers"/>) on lock records, and the session shard's side of a cover.</summary>
public sealed class SessionCoversTests
{
    private const long Epoch = 1;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private static Guid Id(int n) => new(n, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]);

    private static LockRequest Req(string session, int n, long cover = 0) => new(session, Id(n), null, TimeSpan.Zero, Ttl, Sequence: n, Cover: cover);

    /// <summary>s1 used the lock (request 1 finished), then request 2 attached and made the cover, and holds.</summary>
    private static LockRecord Covered(long settledThrough = 1, long highestKnown = 2)
    {
        var (r, _) = LockStateMachine.Acquire(null, Req("s1", 1), AcquireMode.Wait, Epoch);
        (r, _) = LockStateMachine.Release(r, "l", "s1", Id(1), r.Holder!.Token, Epoch);
        var cover = Req("s1", 2);
        (r, _) = LockStateMachine.Acquire(r, cover, AcquireMode.Wait, Epoch);
        Assert.True(SessionCovers.Worth(r, "s1"), "the session used the name moments ago");
        return SessionCovers.Make(r, cover, settledThrough, highestKnown, forgotten: 0);
    }

    /// <summary><see cref="Covered"/>, then request 2 released and request 3 carried, granted and released.</summary>
    private static LockRecord CarriedThenReleased()
    {
        var r = Covered();
        (r, _) = LockStateMachine.Release(r, "l", "s1", Id(2), r.Holder!.Token, Epoch);
        (r, _) = LockStateMachine.Acquire(r, Req("s1", 3, cover: 2), AcquireMode.Wait, Epoch);
        return LockStateMachine.Release(r, "l", "s1", Id(3), r.Holder!.Token, Epoch).Next;
    }

    [Fact]
    public void A_cover_is_worth_making_only_for_a_session_that_used_the_name_moments_ago()
    {
        var (fresh, _) = LockStateMachine.Acquire(null, Req("s1", 1), AcquireMode.Wait, Epoch);
        Assert.False(SessionCovers.Worth(fresh, "s1"));
        var (released, _) = LockStateMachine.Release(fresh, "l", "s1", Id(1), fresh.Holder!.Token, Epoch);
        Assert.True(SessionCovers.Worth(released, "s1"));
        Assert.False(SessionCovers.Worth(released, "s2"));
    }

    [Fact]
    public void The_floor_starts_above_everything_the_session_or_this_queue_knew_and_the_mark_at_what_the_client_said()
    {
        var c = Assert.Single(Covered(settledThrough: 1, highestKnown: 7).Covers);
        Assert.Equal(("s1", 2L, 7L, 1L, Ttl, false), (c.SessionId, c.Sequence, c.Floor, c.Mark, c.Ttl, c.Retiring));
        var (held, _) = LockStateMachine.Acquire(null, Req("s1", 2), AcquireMode.Wait, Epoch);
        (held, _) = LockStateMachine.Acquire(held, Req("s1", 4), AcquireMode.Wait, Epoch);
        Assert.Equal(4, Assert.Single(SessionCovers.Make(held, Req("s1", 2), 1, 0, forgotten: 0).Covers).Floor);
        Assert.Equal(9, Assert.Single(SessionCovers.Make(held, Req("s1", 2), 1, 0, forgotten: 9).Covers).Floor);
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(2, false)]
    [InlineData(1, false)]
    public void Only_a_request_above_the_floor_and_the_mark_rides_on_the_cover(long sequence, bool rides)
    {
        var r = Covered();
        var c = Assert.Single(r.Covers);
        Assert.Equal(rides, SessionCovers.Carries(r, c, sequence));
        Assert.False(SessionCovers.Carries(r, c with { Mark = 5 }, 4), "a request at or below the mark is the session's to judge");
        Assert.False(SessionCovers.Carries(r, c with { Retiring = true }, 9), "nothing rides on a retiring cover");
        Assert.False(SessionCovers.Carries(r, null, 9));
    }

    [Fact]
    public void A_cover_carries_only_a_few_requests_at_once()
    {
        var queued = Covered();
        for (var n = 3; n < 3 + SessionCovers.MaxCarried; n++)
        {
            (queued, _) = LockStateMachine.Acquire(queued, Req("s1", n, cover: 2), AcquireMode.Wait, Epoch);
        }

        Assert.False(SessionCovers.Carries(queued, queued.Covers[0], 100), "past the bound of held and queued requests the session attaches as usual");

        var r = Covered();
        (r, _) = LockStateMachine.Release(r, "l", "s1", Id(2), r.Holder!.Token, Epoch);
        for (var n = 3; n < 3 + SessionCovers.MaxCarried; n++)
        {
            Assert.True(SessionCovers.Carries(r, r.Covers[0], n), $"request {n} should ride");
            (r, _) = LockStateMachine.Acquire(r, Req("s1", n, cover: 2), AcquireMode.Wait, Epoch);
            (r, _) = LockStateMachine.Release(r, "l", "s1", Id(n), r.Holder!.Token, Epoch);
            r = SessionCovers.Maintain(r);
        }

        Assert.False(SessionCovers.Carries(r, r.Covers[0], 100), "past the bound of finished ones kept for the mark the session attaches as usual");
        Assert.True(SessionCovers.Settles(SessionCovers.Heard(r, "s1", 5).Covers[0], 4), "an unknown request at or below the mark is a late copy");
        Assert.False(SessionCovers.Settles(r.Covers[0], 100));
    }

    [Fact]
    public void A_full_finished_list_forgets_the_oldest_request_no_cover_pins()
    {
        var r = Covered();
        (r, _) = LockStateMachine.Release(r, "l", "s1", Id(2), r.Holder!.Token, Epoch);
        var log = new FinishedLog([.. r.Finished.Where(f => f.Sequence == 2)], 0);
        for (var n = 0; n < FinishedLog.Max; n++)
        {
            log = log.Add(new FinishedRequest("other", Id(1000 + n), n + 1, RequestEnd.Released, 1000 + n), r.Covers);
        }

        Assert.Equal(FinishedLog.Max, log.Finished.Count);
        Assert.Contains(log.Finished, f => f.SessionId == "s1" && f.Sequence == 2);
        Assert.DoesNotContain(log.Finished, f => f.RequestId == Id(1000));
    }

    [Fact]
    public void A_carried_request_that_finished_stays_until_an_acquire_brings_a_mark_past_it()
    {
        var r = SessionCovers.Maintain(CarriedThenReleased());
        var carried = Assert.Single(r.Finished, f => f.Sequence == 3);
        Assert.True(carried.Covered);
        Assert.True(SessionCovers.Pins(r.Covers, carried), "a carried request is not let go at the session, which never had it");
        Assert.True(SessionCovers.Pins(r.Covers, r.Finished.Single(f => f.Sequence == 2)), "the cover's own request stays attached");
        Assert.False(SessionCovers.Pins(r.Covers, r.Finished.Single(f => f.Sequence == 1)), "an attached request from before the cover is let go as usual");

        r = SessionCovers.Maintain(SessionCovers.Heard(r, "s1", settledThrough: 3));
        Assert.DoesNotContain(r.Finished, f => f.Sequence == 3);
        Assert.Contains(r.Finished, f => f.Sequence == 2);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, LockStateMachine.Release(r, "l", "s1", Id(3), carried.Token, Epoch).Outcome);
    }

    [Fact]
    public void A_retiring_cover_forgets_nothing_by_its_mark_what_finished_on_it_is_let_go_at_the_session()
    {
        var r = CarriedThenReleased();
        var retiring = SessionCovers.Maintain(SessionCovers.Heard(SessionCovers.Retire(r), "s1", settledThrough: 3));
        Assert.Equal(r.Covers[0].Mark, retiring.Covers[0].Mark);
        var carried = Assert.Single(retiring.Finished, f => f.Sequence == 3);
        Assert.False(SessionCovers.Pins(retiring.Covers, carried), "what rode on a retiring cover is settled at the session like any finished request");
    }

    [Fact]
    public void A_request_of_the_session_that_is_not_carried_raises_the_floor()
    {
        var r = Covered(highestKnown: 2);
        var (cancelled, _) = LockStateMachine.Cancel(r, "s1", Id(8), Epoch, sequence: 8);
        Assert.Equal(8, Assert.Single(SessionCovers.Maintain(cancelled).Covers).Floor);
        var (carried, _) = LockStateMachine.Acquire(r, Req("s1", 9, cover: 2), AcquireMode.Wait, Epoch);
        Assert.Equal(2, Assert.Single(SessionCovers.Maintain(carried).Covers).Floor);
    }

    [Fact]
    public void With_several_covers_each_floor_rises_over_its_own_sessions_requests_that_are_not_carried()
    {
        LockRecord? r = null;
        foreach (var (session, n) in new[] { ("s1", 1), ("s2", 11), ("s3", 21) })
        {
            (r, _) = LockStateMachine.Acquire(r, Req(session, n), AcquireMode.Wait, Epoch);
            (r, _) = LockStateMachine.Release(r, "l", session, Id(n), r.Holder!.Token, Epoch);
        }

        foreach (var (session, n) in new[] { ("s1", 2), ("s2", 12), ("s3", 22) })
        {
            (r, _) = LockStateMachine.Acquire(r, Req(session, n), AcquireMode.Wait, Epoch);
            r = SessionCovers.Make(r, Req(session, n), settledThrough: n - 1, highestKnown: n, forgotten: 0);
        }

        Assert.Equal([2L, 12L, 22L], r!.Covers.Select(c => c.Floor));
        (r, _) = LockStateMachine.Cancel(r, "s2", Id(17), Epoch, sequence: 17);
        (r, _) = LockStateMachine.Cancel(r, "s3", Id(25), Epoch, sequence: 25);
        (r, _) = LockStateMachine.Acquire(r, Req("s1", 30, cover: 2), AcquireMode.Wait, Epoch);
        (r, _) = LockStateMachine.Acquire(r, Req("s3", 40, cover: 22), AcquireMode.Wait, Epoch);
        (r, _) = LockStateMachine.Cancel(r, "s3", Id(40), Epoch, sequence: 40);
        Assert.Contains(r.Finished, f => f.SessionId == "s3" && f.Sequence == 40 && f.Covered);

        var maintained = SessionCovers.Maintain(r);
        Assert.Equal([("s1", 2L), ("s2", 17L), ("s3", 25L)], maintained.Covers.Select(c => (c.SessionId, c.Floor)));
    }

    [Fact]
    public void A_retiring_cover_goes_with_its_request_once_settled_and_the_session_end_takes_it_at_once()
    {
        var r = Covered();
        (r, _) = LockStateMachine.Release(r, "l", "s1", Id(2), r.Holder!.Token, Epoch);
        Assert.Same(r, SessionCovers.Settled(r, "s1", 2));
        var (busy, _) = LockStateMachine.Acquire(r with { Finished = r.Finished.RemoveAll(f => f.Sequence != 2) }, Req("s2", 50), AcquireMode.Wait, Epoch);
        Assert.False(SessionCovers.HasLeftovers(busy), "a standing cover's own request is no leftover while the lock is in use");
        Assert.True(SessionCovers.HasLeftovers(r with { Finished = r.Finished.RemoveAll(f => f.Sequence != 2) }), "a quiet lock's covers are to retire");

        var retiring = SessionCovers.Retire(r);
        Assert.True(Assert.Single(retiring.Covers).Retiring);
        Assert.True(SessionCovers.HasLeftovers(retiring));
        Assert.True(SessionCovers.Pins(retiring.Covers, retiring.Finished.Single(f => f.Sequence == 2)), "the cover's request is let go by its settle");
        var gone = SessionCovers.Settled(retiring, "s1", 2);
        Assert.Empty(gone.Covers);
        Assert.DoesNotContain(gone.Finished, f => f.Sequence == 2);

        Assert.Empty(SessionCovers.Without(r, "s1").Covers);
        Assert.Same(r, SessionCovers.Without(r, "s2"));
    }

    [Fact]
    public void A_lock_with_a_cover_is_not_empty_so_its_register_stays()
    {
        var r = Covered();
        (r, _) = LockStateMachine.Release(r, "l", "s1", Id(2), r.Holder!.Token, Epoch);
        r = r.With(new FinishedLog([], r.ForgottenBelow));
        Assert.True(r.IsIdle);
        Assert.False(r.IsEmpty);
    }

    [Fact]
    public void The_shard_tells_the_highest_number_it_knows_and_a_cover_settle_raises_its_mark()
    {
        var holding = Holding.Lock("l");
        var s = SessionShards.Attach(null, "s1", holding, 5, 2);
        s = SessionShards.Detach(s, holding, 7)!;
        Assert.Equal(7, SessionShards.HighestKnown(s));

        s = SessionShards.Attach(s, "s1", holding, 8, 2);
        s = SessionShards.Attach(s, "s1", holding, 12, 2);
        s = SessionShards.Attach(s, "s1", Holding.Lock("other"), 6, 2);
        var settled = SessionShards.Settle(s, holding, 5, settledThrough: 9)!;
        Assert.Equal([new Attachment(Holding.Lock("other"), 6), new Attachment(holding, 12)], settled.Attached.OrderBy(a => a.Sequence));
        Assert.Equal(9, settled.SettledThrough);
        Assert.Throws<RequestFinishedException>(() => SessionShards.Attach(settled, "s1", holding, 8, 0));
        Assert.Null(SessionShards.Settle(null, holding, 5, 9));
    }
}
