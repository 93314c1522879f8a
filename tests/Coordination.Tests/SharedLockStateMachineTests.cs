using Coordination.Grains.Leases;

namespace Coordination.Tests;

/// <summary>The semaphore and the reader-writer lock as pure transitions (<see cref="SharedLockStateMachine"/>).</summary>
public sealed class SharedLockStateMachineTests
{
    private const long Epoch = 1;
    private static readonly long First = FencingTokens.Base(Epoch) + 1;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private static LockRequest Req(string session, int id, LeaseAccess access) =>
        new(session, Id(id), null, TimeSpan.Zero, Ttl, Sequence: id, Access: access);

    private static LockRequest Permit(string session, int id) => Req(session, id, LeaseAccess.Shared);

    private static LockRequest Read(string session, int id) => Req(session, id, LeaseAccess.Shared);

    private static LockRequest Write(string session, int id) => Req(session, id, LeaseAccess.Exclusive);

    private static LockRequest Upgradeable(string session, int id) => Req(session, id, LeaseAccess.Upgradeable);

    private static Guid Id(int n) => new(n, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]);

    private static SharedLockRecord Semaphore(int permits) => SharedLockStateMachine.WithCount(SharedLockRecord.Empty, permits, "s");

    private static (SharedLockRecord, AcquireDecision) Acquire(SharedLockRecord? r, LockRequest q, AcquireMode mode = AcquireMode.Wait) =>
        SharedLockStateMachine.Acquire(r, q, mode, Epoch);

    private static SharedLockRecord Apply(SharedLockRecord r, params LockRequest[] requests)
    {
        foreach (var q in requests)
        {
            (r, _) = Acquire(r, q);
        }

        return r;
    }

    private static SharedLockRecord Release(SharedLockRecord r, LockRequest q) =>
        SharedLockStateMachine.Release(r, "x", q.SessionId, q.RequestId, r.GrantOf(q.SessionId, q.RequestId)!.Token, Epoch).Next;

    private static string[] Holders(SharedLockRecord r) => [.. r.Holders.Select(h => h.SessionId).Order()];

    [Fact]
    public void A_semaphore_grants_up_to_its_count_then_queues_in_order()
    {
        var r = Apply(Semaphore(2), Permit("a", 1), Permit("b", 2), Permit("c", 3), Permit("d", 4));
        Assert.Equal(["a", "b"], Holders(r));
        Assert.Equal(["c", "d"], r.Waiters.Select(w => w.SessionId));

        r = Release(r, Permit("b", 2));
        Assert.Equal(["a", "c"], Holders(r));
        Assert.Equal(["d"], r.Waiters.Select(w => w.SessionId));
    }

    [Fact]
    public void Every_permit_gets_a_fresh_token_strictly_above_the_last()
    {
        var r = Apply(Semaphore(3), Permit("a", 1), Permit("b", 2), Permit("c", 3));
        Assert.Equal([First, First + 1, First + 2], r.Holders.Select(h => h.Token));
        r = Release(r, Permit("a", 1));
        var (next, d) = Acquire(r, Permit("d", 4));
        Assert.Equal(First + 3, d.Token);
        Assert.Equal(First + 3, next.LastToken);
    }

    [Fact]
    public void A_semaphore_count_is_fixed_at_first_use_and_a_mismatch_changes_nothing()
    {
        var r = Semaphore(3);
        Assert.Same(r, SharedLockStateMachine.WithCount(r, 3, "s"));
        var error = Assert.Throws<SemaphoreCountMismatchException>(() => SharedLockStateMachine.WithCount(r, 4, "s"));
        Assert.Equal(3, error.MaxCount);
        Assert.Equal(4, error.Requested);
        Assert.Equal(3, r.MaxCount);
    }

    [Fact]
    public void If_available_takes_a_free_permit_and_never_queues()
    {
        var r = Apply(Semaphore(2), Permit("a", 1));
        var (r2, d) = Acquire(r, Permit("b", 2), AcquireMode.IfAvailable);
        Assert.Equal(AcquireStatus.Granted, d.Status);
        var (r3, none) = Acquire(r2, Permit("c", 3), AcquireMode.IfAvailable);
        Assert.Equal(AcquireStatus.NotAvailable, none.Status);
        Assert.Same(r2, r3);
    }

    [Fact]
    public void A_session_that_ends_gives_back_its_permits_and_the_next_waiters_get_them()
    {
        var r = Apply(Semaphore(2), Permit("a", 1), Permit("a", 2), Permit("b", 3), Permit("c", 4));
        var (next, changed) = SharedLockStateMachine.SessionEnded(r, "a", SessionEnd.Expired, Epoch);
        Assert.True(changed);
        Assert.Equal(["b", "c"], Holders(next));
        Assert.Empty(next.Waiters);
    }

    [Fact]
    public void Readers_share_and_carry_the_token_of_the_write_epoch()
    {
        var r = Apply(SharedLockRecord.Empty, Write("w", 1));
        var writer = r.Holders.Single().Token;
        r = Apply(r, Read("r1", 2), Read("r2", 3));
        Assert.Equal(["r1", "r2"], r.Waiters.Select(w => w.SessionId));

        r = Release(r, Write("w", 1));
        Assert.Equal(["r1", "r2"], Holders(r));
        Assert.All(r.Holders, h => Assert.Equal(writer, h.Token));
    }

    [Fact]
    public void A_writer_waits_for_readers_and_its_token_is_above_every_earlier_grant()
    {
        var r = Apply(SharedLockRecord.Empty, Read("r1", 1), Read("r2", 2), Write("w", 3));
        Assert.Equal(["r1", "r2"], Holders(r));
        var readerToken = r.Holders.Max(h => h.Token);
        r = Release(Release(r, Read("r1", 1)), Read("r2", 2));
        var w = Assert.Single(r.Holders);
        Assert.Equal("w", w.SessionId);
        Assert.True(w.Token > readerToken);
        Assert.Equal(w.Token, r.LastToken);
    }

    [Fact]
    public void A_queued_writer_holds_back_every_later_reader()
    {
        var r = Apply(SharedLockRecord.Empty, Read("r1", 1), Write("w", 2));
        var (r2, d) = Acquire(r, Read("r2", 3));
        Assert.Equal(AcquireStatus.Queued, d.Status);
        var (_, none) = Acquire(r, Read("r3", 4), AcquireMode.IfAvailable);
        Assert.Equal(AcquireStatus.NotAvailable, none.Status);

        // The writer goes before the reader that came after it, and the reader after the writer.
        r2 = Release(r2, Read("r1", 1));
        Assert.Equal(["w"], Holders(r2));
        r2 = Release(r2, Write("w", 2));
        Assert.Equal(["r2"], Holders(r2));
    }

    [Fact]
    public void Only_one_upgradeable_reader_at_a_time_beside_plain_readers()
    {
        var r = Apply(SharedLockRecord.Empty, Upgradeable("u1", 1), Read("r", 2), Upgradeable("u2", 3));
        Assert.Equal(["r", "u1"], Holders(r));
        Assert.Equal(["u2"], r.Waiters.Select(w => w.SessionId));
        r = Release(r, Upgradeable("u1", 1));
        Assert.Equal(["r", "u2"], Holders(r));
    }

    [Fact]
    public void An_upgrade_waits_for_the_other_readers_ahead_of_the_queue_then_takes_a_writer_token()
    {
        var r = Apply(SharedLockRecord.Empty, Upgradeable("u", 1), Read("r", 2), Write("w", 3));
        var u = r.GrantOf("u", Id(1))!;
        var (pending, status, _) = SharedLockStateMachine.RequestUpgrade(r, "x", "u", Id(1), u.Token, AcquireMode.Wait, Epoch);
        Assert.Equal(UpgradeStatus.Waiting, status);

        // A new reader waits behind the pending upgrade.
        var (withReader, d) = Acquire(pending, Read("r2", 4));
        Assert.Equal(AcquireStatus.Queued, d.Status);

        var upgraded = Release(withReader, Read("r", 2));
        Assert.True(upgraded.Upgrade!.IsGranted);
        Assert.True(upgraded.Upgrade.Token > u.Token);
        Assert.Equal(["u"], Holders(upgraded));

        // The waiting writer and reader follow, in order, once the upgraded reader leaves.
        var after = Release(upgraded, Upgradeable("u", 1));
        Assert.Null(after.Upgrade);
        Assert.Equal(["w"], Holders(after));
        Assert.True(after.Holders[0].Token > upgraded.Upgrade.Token);
    }

    [Fact]
    public void Two_would_be_upgraders_never_deadlock_because_the_second_never_holds_an_upgradeable_read()
    {
        var r = Apply(SharedLockRecord.Empty, Upgradeable("u1", 1), Upgradeable("u2", 2));
        Assert.Equal(["u1"], Holders(r));
        var token = r.GrantOf("u1", Id(1))!.Token;
        var (upgraded, status, _) = SharedLockStateMachine.RequestUpgrade(r, "x", "u1", Id(1), token, AcquireMode.Wait, Epoch);
        Assert.Equal(UpgradeStatus.Granted, status);
        Assert.Throws<LockNotHeldException>(() => SharedLockStateMachine.RequestUpgrade(upgraded, "x", "u2", Id(2), token, AcquireMode.Wait, Epoch));
    }

    [Fact]
    public void An_upgrade_if_available_changes_nothing_when_readers_remain_and_a_withdrawn_upgrade_lets_readers_in()
    {
        var r = Apply(SharedLockRecord.Empty, Upgradeable("u", 1), Read("r", 2));
        var token = r.GrantOf("u", Id(1))!.Token;
        var (same, status, _) = SharedLockStateMachine.RequestUpgrade(r, "x", "u", Id(1), token, AcquireMode.IfAvailable, Epoch);
        Assert.Equal(UpgradeStatus.NotAvailable, status);
        Assert.Same(r, same);

        var (pending, _, _) = SharedLockStateMachine.RequestUpgrade(r, "x", "u", Id(1), token, AcquireMode.Wait, Epoch);
        var queued = Apply(pending, Read("r2", 3));
        var (withdrawn, ok) = SharedLockStateMachine.WithdrawUpgrade(queued, "u", Id(1), Epoch);
        Assert.True(ok);
        Assert.Null(withdrawn.Upgrade);
        Assert.Equal(["r", "r2", "u"], Holders(withdrawn));
    }

    [Fact]
    public void The_end_of_an_upgraders_session_drops_its_upgrade_and_lets_the_queue_go_on()
    {
        var r = Apply(SharedLockRecord.Empty, Upgradeable("u", 1), Read("r", 2));
        var (pending, _, _) = SharedLockStateMachine.RequestUpgrade(r, "x", "u", Id(1), r.GrantOf("u", Id(1))!.Token, AcquireMode.Wait, Epoch);
        var queued = Apply(pending, Read("r2", 3));
        var (next, _) = SharedLockStateMachine.SessionEnded(queued, "u", SessionEnd.Closed, Epoch);
        Assert.Null(next.Upgrade);
        Assert.Equal(["r", "r2"], Holders(next));
    }

    [Fact]
    public void Cancelling_a_queued_writer_lets_the_readers_behind_it_in()
    {
        var r = Apply(SharedLockRecord.Empty, Read("r1", 1), Write("w", 2), Read("r2", 3));
        var (next, outcome) = SharedLockStateMachine.Cancel(r, "w", Id(2), Epoch, 2);
        Assert.Equal(CancelOutcome.Dequeued, outcome);
        Assert.Equal(["r1", "r2"], Holders(next));
    }

    [Fact]
    public void A_vanished_holder_blocks_new_grants_for_its_ttl_under_a_burned_token()
    {
        var r = Apply(Semaphore(2), Permit("a", 1), Permit("b", 2), Permit("c", 3));
        var (next, _) = SharedLockStateMachine.SessionEnded(r, "a", SessionEnd.Vanished, Epoch);
        Assert.Equal(["b"], Holders(next));
        Assert.Equal(Ttl, next.Delay!.Duration);
        Assert.Equal(next.LastToken, next.Delay.AfterToken);
        Assert.True(next.Delay.AfterToken > r.LastToken);

        var ended = EndLockDelay(next, next.Delay.AfterToken, Epoch);
        Assert.Equal(["b", "c"], Holders(ended));
    }

    [Fact]
    public void Releases_are_idempotent_and_refused_to_anyone_else()
    {
        var r = Apply(Semaphore(2), Permit("a", 1));
        var token = r.Holders[0].Token;
        var (released, outcome) = SharedLockStateMachine.Release(r, "x", "a", Id(1), token, Epoch);
        Assert.Equal(ReleaseOutcome.Released, outcome);
        Assert.Equal(ReleaseOutcome.AlreadyReleased, SharedLockStateMachine.Release(released, "x", "a", Id(1), token, Epoch).Outcome);
        Assert.Throws<LockNotHeldException>(() => SharedLockStateMachine.Release(r, "x", "b", Id(1), token, Epoch));
        Assert.Throws<LockNotHeldException>(() => SharedLockStateMachine.Release(r, "x", "a", Id(1), token + 1, Epoch));
    }

    [Fact]
    public void A_retry_returns_the_same_grant_or_place_and_a_finished_request_is_refused()
    {
        var r = Apply(Semaphore(1), Permit("a", 1), Permit("b", 2));
        Assert.Equal(AcquireStatus.Granted, Acquire(r, Permit("a", 1)).Item2.Status);
        Assert.Equal(AcquireStatus.Queued, Acquire(r, Permit("b", 2)).Item2.Status);
        var (cancelled, _) = SharedLockStateMachine.Cancel(r, "b", Id(2), Epoch, 2);
        Assert.Equal(RequestEnd.Cancelled, Acquire(cancelled, Permit("b", 2)).Item2.FinishedAs);
    }

    [Fact]
    public void The_queue_is_bounded()
    {
        var r = Semaphore(1) with { Waiters = [.. Enumerable.Range(0, SharedLockStateMachine.MaxEntries).Select(i => Permit("w", i + 10))] };
        Assert.Throws<QueueFullException>(() => SharedLockStateMachine.EnsureRoom(r, "s"));
    }

    [Fact]
    public void An_expired_permit_holders_lock_delay_holds_back_every_permit_until_it_ends()
    {
        var delay = TimeSpan.FromSeconds(5);
        var r = Apply(Semaphore(2), Permit("a", 1) with { LockDelay = delay }, Permit("b", 2), Permit("c", 3));
        var (next, _) = SharedLockStateMachine.SessionEnded(r, "a", SessionEnd.Expired, Epoch);
        Assert.Equal(["b"], Holders(next));
        Assert.Equal(["c"], next.Waiters.Select(w => w.SessionId));
        Assert.Equal(delay, next.Delay!.Duration);
        Assert.False(next.Admits(Permit("d", 4)));

        var ended = EndLockDelay(next, next.Delay.AfterToken, Epoch);
        Assert.Null(ended.Delay);
        Assert.Equal(["b", "c"], Holders(ended));

        var closed = SharedLockStateMachine.SessionEnded(r, "a", SessionEnd.Closed, Epoch).Next;
        Assert.Null(closed.Delay);
        Assert.Equal(["b", "c"], Holders(closed));
    }

    [Fact]
    public void A_revoke_takes_every_told_grant_burns_a_token_and_holds_grants_back_for_the_holders_ttl()
    {
        var r = Apply(Semaphore(2), Permit("a", 1), Permit("b", 2), Permit("c", 3));
        var told = r.Holders.Select(h => (h.SessionId, h.RequestId, h.Token)).ToHashSet();
        var (next, revoked) = SharedLockStateMachine.Revoke(r, told, Epoch);

        Assert.Equal(["a", "b"], revoked.Select(g => g.SessionId).Order());
        Assert.Empty(next.Holders);
        Assert.Equal(["c"], next.Waiters.Select(w => w.SessionId));
        Assert.True(next.LastToken > r.LastToken, "a token was burned");
        Assert.Equal(Ttl, next.Delay!.Duration);
        Assert.All(revoked, g => Assert.Equal(RequestEnd.Revoked, next.Log.Find(g.SessionId, g.RequestId)!.End));
        Assert.Equal(ReleaseOutcome.AlreadyReleased, SharedLockStateMachine.Release(next, "x", "a", Id(1), revoked.Single(g => g.SessionId == "a").Token, Epoch).Outcome);

        var after = EndLockDelay(next, next.Delay.AfterToken, Epoch);
        Assert.Equal(["c"], Holders(after));
        Assert.True(after.Holders[0].Token > next.LastToken, "the next permit's token is above the burned one");
    }

    [Fact]
    public void A_delay_already_running_starts_again_in_full_when_another_holder_expires_or_is_revoked()
    {
        // a's 30 s delay is running; b's session then expires with a 10 s lock-delay. Keeping the old delay would let
        // its timer, started earlier, end b's wait early: the delay is timed afresh under a new mark instead.
        var r = Apply(Semaphore(3), Permit("a", 1) with { LockDelay = TimeSpan.FromSeconds(30) }, Permit("b", 2) with { LockDelay = TimeSpan.FromSeconds(10) }, Permit("c", 3));
        var (running, _) = SharedLockStateMachine.SessionEnded(r, "a", SessionEnd.Expired, Epoch);
        var firstMark = running.Delay!.AfterToken;

        var (expired, _) = SharedLockStateMachine.SessionEnded(running, "b", SessionEnd.Expired, Epoch);
        Assert.Equal(TimeSpan.FromSeconds(30), expired.Delay!.Duration);
        Assert.True(expired.Delay.AfterToken > firstMark, "a new mark, so the grain's timer restarts from now");
        Assert.NotNull(EndLockDelay(expired, firstMark, Epoch).Delay); // the first timer's end no longer ends it

        var told = running.Holders.Select(h => (h.SessionId, h.RequestId, h.Token)).ToHashSet();
        var (revoked, taken) = SharedLockStateMachine.Revoke(running, told, Epoch);
        Assert.Equal(["b", "c"], taken.Select(g => g.SessionId).Order());
        Assert.Equal(TimeSpan.FromSeconds(30), revoked.Delay!.Duration);
        Assert.Equal(revoked.LastToken, revoked.Delay.AfterToken);
        Assert.True(revoked.Delay.AfterToken > firstMark, "the revoke's burned token times the delay afresh");
        Assert.NotNull(EndLockDelay(revoked, firstMark, Epoch).Delay);
    }

    [Fact]
    public void A_revoke_leaves_a_grant_made_after_the_holders_were_read()
    {
        var r = Apply(Semaphore(2), Permit("a", 1));
        var told = r.Holders.Select(h => (h.SessionId, h.RequestId, h.Token)).ToHashSet();
        r = Apply(r, Permit("b", 2));
        var (next, revoked) = SharedLockStateMachine.Revoke(r, told, Epoch);
        Assert.Equal("a", Assert.Single(revoked).SessionId);
        Assert.Equal(["b"], Holders(next));
    }

    [Fact]
    public void A_revoke_of_an_upgraded_reader_takes_its_writer_grant_too()
    {
        var r = Apply(SharedLockRecord.Empty, Upgradeable("u", 1));
        var token = r.Holders[0].Token;
        (r, _, _) = SharedLockStateMachine.RequestUpgrade(r, "x", "u", Id(1), token, AcquireMode.Wait, Epoch);
        Assert.True(r.Upgrade!.IsGranted);
        var (next, revoked) = SharedLockStateMachine.Revoke(r, new HashSet<(string, Guid, long)> { ("u", Id(1), token) }, Epoch);
        Assert.Single(revoked);
        Assert.Null(next.Upgrade);
        Assert.Empty(next.Holders);
        Assert.True(next.LastToken > r.Upgrade.Token, "the burned token is above the writer's");
    }

    private static T EndLockDelay<T>(T r, long afterToken, long epoch) where T : class, ILeaseState<T> => T.EndLockDelay(r, afterToken, epoch);
}
