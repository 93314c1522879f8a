using Coordination.Grains.Leases;

namespace Coordination.Tests;

public sealed class LockStateMachineTests
{
    private const long Epoch = 1;
    private static readonly long First = FencingTokens.Base(Epoch) + 1;

    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private static LockRequest Req(string session, int id, TimeSpan lockDelay = default) => new(session, Id(id), $"owner-{session}", lockDelay, Ttl);

    private static Guid Id(int n) => new(n, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]);

    private static (LockRecord, AcquireDecision) Acquire(LockRecord? r, LockRequest q, AcquireMode mode = AcquireMode.Wait) =>
        LockStateMachine.Acquire(r, q, mode, Epoch);

    [Fact]
    public void A_free_lock_is_granted_with_the_first_token()
    {
        var (r, d) = Acquire(null, Req("s1", 1));
        Assert.Equal(AcquireStatus.Granted, d.Status);
        Assert.Equal(First, d.Token);
        Assert.Equal(First, r.LastToken);
        Assert.Equal("s1", r.Holder!.SessionId);
    }

    [Fact]
    public void Retrying_the_same_request_returns_the_same_grant_or_the_same_place()
    {
        var (r1, g) = Acquire(null, Req("s1", 1));
        var (r2, q) = Acquire(r1, Req("s2", 2));
        var (r3, again) = Acquire(r2, Req("s1", 1));
        var (r4, placeAgain) = Acquire(r3, Req("s2", 2));
        Assert.Equal(g, again);
        Assert.Equal(AcquireStatus.Queued, q.Status);
        Assert.Equal(q, placeAgain);
        Assert.Same(r2, r3);
        Assert.Same(r3, r4);
    }

    [Fact]
    public void Two_acquires_from_one_session_are_two_holders()
    {
        var (r1, _) = Acquire(null, Req("s1", 1));
        var (r2, d) = Acquire(r1, Req("s1", 2));
        Assert.Equal(AcquireStatus.Queued, d.Status);
        Assert.Single(r2.Waiters);
    }

    [Fact]
    public void If_available_never_queues()
    {
        var (r1, _) = Acquire(null, Req("s1", 1));
        var (r2, d) = Acquire(r1, Req("s2", 2), AcquireMode.IfAvailable);
        Assert.Equal(AcquireStatus.NotAvailable, d.Status);
        Assert.Same(r1, r2);
    }

    [Fact]
    public void Release_hands_the_lock_to_the_first_waiter_in_fifo_order_with_a_higher_token()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        r = Acquire(r, Req("s3", 3)).Item1;
        var (after, outcome) = LockStateMachine.Release(r, "L", "s1", Id(1), First, Epoch);
        Assert.Equal(ReleaseOutcome.Released, outcome);
        Assert.Equal("s2", after.Holder!.SessionId);
        Assert.Equal(First + 1, after.Holder.Token);
        Assert.Equal("s3", Assert.Single(after.Waiters).SessionId);
    }

    [Fact]
    public void Repeating_a_release_succeeds_and_changes_nothing()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        var (after, _) = LockStateMachine.Release(r, "L", "s1", Id(1), First, Epoch);
        var (again, outcome) = LockStateMachine.Release(after, "L", "s1", Id(1), First, Epoch);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, outcome);
        Assert.Same(after, again);
    }

    public static TheoryData<string, int, long, string> NotOwner => new()
    {
        { "s2", 2, First + 1, "still queued" },     // a waiter
        { "s9", 9, First, "does not hold it" },     // a stranger
        { "s1", 1, First + 7, "holds token" },      // the holder with the wrong token
    };

    [Theory]
    [MemberData(nameof(NotOwner))]
    public void Release_by_a_non_owner_is_refused_and_changes_nothing(string session, int id, long token, string why)
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        var error = Assert.Throws<LockNotHeldException>(() => LockStateMachine.Release(r, "L", session, Id(id), token, Epoch));
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stale_release_with_an_old_token_changes_nothing()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        r = LockStateMachine.Release(r, "L", "s1", Id(1), First, Epoch).Next;
        var (after, outcome) = LockStateMachine.Release(r, "L", "s1", Id(1), First, Epoch);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, outcome);
        Assert.Equal("s2", after.Holder!.SessionId);
    }

    [Fact]
    public void Cancel_undoes_a_grant_that_raced_it_and_blocks_a_late_duplicate_acquire()
    {
        var (r, _) = Acquire(null, Req("s1", 1));
        var (cancelled, outcome) = LockStateMachine.Cancel(r, "s1", Id(1), Epoch);
        Assert.Equal(CancelOutcome.GrantUndone, outcome);
        Assert.Null(cancelled.Holder);
        var (_, late) = Acquire(cancelled, Req("s1", 1));
        Assert.Equal(RequestEnd.Cancelled, late.FinishedAs);
    }

    [Fact]
    public void Cancel_of_a_waiter_leaves_the_queue_and_cancel_of_an_unknown_request_remembers_it()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        var (dequeued, o1) = LockStateMachine.Cancel(r, "s2", Id(2), Epoch);
        Assert.Equal(CancelOutcome.Dequeued, o1);
        Assert.Empty(dequeued.Waiters);
        var (remembered, o2) = LockStateMachine.Cancel(dequeued, "s3", Id(3), Epoch);
        Assert.Equal(CancelOutcome.NotFound, o2);
        Assert.Equal(RequestEnd.Cancelled, Acquire(remembered, Req("s3", 3)).Item2.FinishedAs);
    }

    [Fact]
    public void A_session_that_ends_loses_its_grant_and_its_waits()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        r = Acquire(r, Req("s1", 3)).Item1;
        r = Acquire(r, Req("s3", 4)).Item1;
        var (after, changed) = LockStateMachine.SessionEnded(r, "s1", SessionEnd.Expired, Epoch);
        Assert.True(changed);
        Assert.Equal("s2", after.Holder!.SessionId);
        Assert.Equal(["s3"], after.Waiters.Select(w => w.SessionId));
    }

    [Fact]
    public void An_expired_holder_with_a_lock_delay_keeps_the_lock_unavailable_until_the_delay_ends()
    {
        var r = Acquire(null, Req("s1", 1, TimeSpan.FromSeconds(5))).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        var (delayed, _) = LockStateMachine.SessionEnded(r, "s1", SessionEnd.Expired, Epoch);
        Assert.Null(delayed.Holder);
        Assert.Equal(new PendingDelay(TimeSpan.FromSeconds(5), First), delayed.Delay);
        Assert.Equal(AcquireStatus.Queued, Acquire(delayed, Req("s3", 3)).Item2.Status);
        Assert.Same(delayed, LockStateMachine.EndLockDelay(delayed, First + 99, Epoch));
        var ended = LockStateMachine.EndLockDelay(delayed, First, Epoch);
        Assert.Equal("s2", ended.Holder!.SessionId);
        Assert.Null(ended.Delay);
    }

    [Fact]
    public void A_closed_session_does_not_trigger_its_lock_delay()
    {
        var r = Acquire(null, Req("s1", 1, TimeSpan.FromSeconds(5))).Item1;
        var (after, _) = LockStateMachine.SessionEnded(r, "s1", SessionEnd.Closed, Epoch);
        Assert.Null(after.Delay);
    }

    [Fact]
    public void A_session_end_takes_its_grant_waiters_and_finished_requests_and_leaves_an_idle_lock_empty()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s1", 2)).Item1;
        r = LockStateMachine.Cancel(r, "s1", Id(3), Epoch, sequence: 3).Next;
        var (ended, changed) = LockStateMachine.SessionEnded(r, "s1", SessionEnd.Closed, Epoch);
        Assert.True(changed);
        Assert.True(ended.IsEmpty, "nothing is left to remember: the register can be deleted");
        Assert.Equal(First, ended.ForgottenBelow);
        Assert.False(LockStateMachine.SessionEnded(ended, "s1", SessionEnd.Closed, Epoch).Changed);
    }

    [Fact]
    public void A_holder_whose_session_state_vanished_keeps_the_lock_blocked_for_a_whole_ttl()
    {
        var r = Acquire(null, Req("s1", 1, TimeSpan.FromSeconds(2))).Item1;
        var (after, _) = LockStateMachine.SessionEnded(r, "s1", SessionEnd.Vanished, Epoch);
        Assert.Equal(new PendingDelay(Ttl, First), after.Delay);
    }

    [Fact]
    public void Finished_requests_are_kept_until_their_session_lets_them_go_and_older_releases_still_succeed()
    {
        LockRecord? r = null;
        var tokens = new List<long>();
        for (var i = 1; i <= 13; i++)
        {
            var (granted, d) = Acquire(r, Req("s1", i));
            tokens.Add(d.Token);
            r = LockStateMachine.Release(granted, "L", "s1", Id(i), d.Token, Epoch).Next;
        }

        Assert.Equal(13, r!.Finished.Count);
        Assert.Equal(AcquireDecision.Finished(RequestEnd.Released), Acquire(r, Req("s1", 2)).Item2);
        for (var i = 1; i <= 5; i++)
        {
            r = LockStateMachine.LetGo(r, "s1", Id(i));
        }

        Assert.Equal(8, r.Finished.Count);
        Assert.Equal(tokens[4], r.ForgottenBelow);
        Assert.Same(r, LockStateMachine.LetGo(r, "s1", Id(1)));
        Assert.Equal(ReleaseOutcome.AlreadyReleased, LockStateMachine.Release(r, "L", "s1", Id(1), tokens[0], Epoch).Outcome);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, LockStateMachine.Release(r, "L", "s1", Id(13), tokens[^1], Epoch).Outcome);
        Assert.Throws<LockNotHeldException>(() => LockStateMachine.Release(r, "L", "s1", Id(99), tokens[^1] + 1, Epoch));
    }

    [Fact]
    public void A_lock_used_again_after_deletion_starts_above_its_token_floor_and_old_releases_are_harmless()
    {
        var floor = First + 41;
        var fresh = LockRecord.Fresh(floor);
        Assert.True(fresh.IsEmpty);
        var (granted, d) = Acquire(fresh, Req("s9", 1));
        Assert.Equal(floor + 1, d.Token);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, LockStateMachine.Release(granted, "L", "s1", Id(7), First, Epoch).Outcome);
    }

    [Fact]
    public void Revoke_takes_the_grant_away_burns_a_token_and_holds_the_lock_free_for_the_holders_session_ttl()
    {
        var r = Acquire(null, Req("s1", 1)).Item1;
        r = Acquire(r, Req("s2", 2)).Item1;
        var (after, revoked, stale) = LockStateMachine.Revoke(r, First, Epoch);
        Assert.False(stale);
        Assert.Equal(First, revoked!.Token);
        Assert.Null(after.Holder);
        Assert.Equal(new PendingDelay(Ttl, First), after.Delay);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, LockStateMachine.Release(after, "L", "s1", Id(1), First, Epoch).Outcome);
        var next = LockStateMachine.EndLockDelay(after, First, Epoch);
        Assert.Equal("s2", next.Holder!.SessionId);
        Assert.Equal(First + 2, next.Holder.Token);
    }

    [Fact]
    public void Revoke_keeps_the_longer_lock_delay_and_changes_nothing_when_the_holder_moved_on()
    {
        var r = Acquire(null, Req("s1", 1, lockDelay: Ttl * 3)).Item1;
        Assert.Equal(new PendingDelay(Ttl * 3, First), LockStateMachine.Revoke(r, First, Epoch).Next.Delay);

        var (same, revoked, stale) = LockStateMachine.Revoke(r, First + 7, Epoch);
        Assert.True(stale);
        Assert.Null(revoked);
        Assert.Same(r, same);

        var (free, none, freeStale) = LockStateMachine.Revoke(LockRecord.Empty, null, Epoch);
        Assert.False(freeStale);
        Assert.Null(none);
        Assert.True(free.LastToken > 0, "a revoke of a free lock still burns a token");
    }

    [Fact]
    public void Tokens_never_go_backwards_over_a_long_random_history()
    {
        var random = new Random(42);
        LockRecord? r = null;
        var last = 0L;
        var epoch = 1L;
        for (var i = 0; i < 5000; i++)
        {
            var session = $"s{random.Next(6)}";
            var id = Id(random.Next(1, 40));
            r = random.Next(6) switch
            {
                0 or 1 => LockStateMachine.Acquire(r, new LockRequest(session, id, null, TimeSpan.Zero, Ttl), AcquireMode.Wait, epoch).Next,
                2 => r?.Holder is { } h ? LockStateMachine.Release(r, "L", h.SessionId, h.RequestId, h.Token, epoch).Next : r,
                3 => LockStateMachine.Cancel(r, session, id, epoch).Next,
                4 => LockStateMachine.SessionEnded(r, session, (SessionEnd)random.Next(3), epoch).Next,
                _ => random.Next(50) == 0 ? LockStateMachine.Revoke(r, r?.Holder?.Token, ++epoch).Next : LockStateMachine.EndLockDelay(r, r?.Delay?.AfterToken ?? 0, epoch),
            };
            Assert.True(r is null || r.LastToken >= last);
            Assert.True(r?.Holder is null || r.Holder.Token <= r.LastToken);
            Assert.True(r is null || r.Finished.Count <= LockStateMachine.MaxFinished);
            last = r?.LastToken ?? 0;
        }
    }
}
