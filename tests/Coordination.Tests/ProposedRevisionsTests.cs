using Coordination.Grains.Latches;
using Coordination.Grains.Values;

namespace Coordination.Tests;

/// <summary>
/// A change the register applies again after a failed round (its first accept reached one replica, another
/// activation's read found it there and built on it) is answered as it was while its request id is kept, applied
/// afresh when it is provably not chosen, and fails as unknown when it may have been chosen and forgotten. The
/// cluster's counter linearizability test caught the last case answering a compare-and-set "false" that had been applied.
/// </summary>
public sealed class ProposedRevisionsTests
{
    private const string Name = "orders/7";

    private static AtomicLongRecord AddMany(AtomicLongRecord r, int count)
    {
        for (var i = 0; i < count; i++)
        {
            r = AtomicLongStateMachine.Add(r, Name, Guid.NewGuid(), 1, new()).Next;
        }

        return r;
    }

    [Fact]
    public void A_compare_and_set_chosen_and_then_built_on_past_the_kept_changes_fails_as_unknown_instead_of_answering_false()
    {
        var id = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        var (chosen, first) = AtomicLongStateMachine.CompareAndSet(AtomicLongRecord.Empty, Name, id, 0, 2, proposed);
        Assert.True(first.Succeeded);

        // Another activation read the first attempt's value from the one replica that took it and made more changes than are kept.
        var later = AddMany(chosen, AtomicLongStateMachine.MaxRecent + 1);
        Assert.DoesNotContain(later.Recent, c => c.RequestId == id);
        var unknown = Assert.Throws<OutcomeUnknownException>(() => AtomicLongStateMachine.CompareAndSet(later, Name, id, 0, 2, proposed));
        Assert.Equal((Name, id), (unknown.Name, unknown.RequestId));

        // What the register did before: a change with no memory of its attempts finds another value and says it did not swap.
        Assert.False(AtomicLongStateMachine.CompareAndSet(later, Name, id, 0, 2, new()).Result.Succeeded);
    }

    [Fact]
    public void A_change_whose_attempt_is_still_kept_is_answered_as_it_was()
    {
        var id = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        var (chosen, first) = AtomicLongStateMachine.Add(AtomicLongRecord.Empty, Name, id, 5, proposed);
        var later = AddMany(chosen, AtomicLongStateMachine.MaxRecent - 1);
        var (same, again) = AtomicLongStateMachine.Add(later, Name, id, 5, proposed);
        Assert.Equal(first, again);
        Assert.Same(later, same);
    }

    [Fact]
    public void A_change_whose_attempt_was_not_chosen_is_applied_afresh_while_the_kept_changes_cover_its_revision()
    {
        var id = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        var start = AddMany(AtomicLongRecord.Empty, 3);

        // The first attempt, at revision 4, missed its majority; another activation's changes won instead.
        _ = AtomicLongStateMachine.Add(start, Name, id, 100, proposed);
        var other = AddMany(start, 10);
        var (next, added) = AtomicLongStateMachine.Add(other, Name, id, 100, proposed);
        Assert.Equal((113L, 14L), (added.Value, added.Revision));

        // Proposed at a revision the register has not reached: it cannot have been chosen.
        var ahead = new ProposedRevisions();
        var aheadId = Guid.NewGuid();
        _ = AtomicLongStateMachine.Add(next, Name, aheadId, 1, ahead);
        Assert.Equal(15L, AtomicLongStateMachine.Add(next, Name, aheadId, 1, ahead).Result.Revision);

        // A compare-and-set that never swapped proposed nothing, so it is answered from whatever it finds.
        var neverSwapped = new ProposedRevisions();
        var casId = Guid.NewGuid();
        Assert.False(AtomicLongStateMachine.CompareAndSet(start, Name, casId, 0, 1, neverSwapped).Result.Succeeded);
        Assert.False(AtomicLongStateMachine.CompareAndSet(AddMany(start, 200), Name, casId, 0, 1, neverSwapped).Result.Succeeded);
    }

    [Fact]
    public void A_first_change_of_an_absent_register_is_applied_again_whatever_floor_another_deletion_left()
    {
        // The first add of a new counter was proposed at revision 6 on the partition's floor 5 and refused; meanwhile a
        // deletion elsewhere in the partition raised the floor to 9. The counter is still absent: nothing of it was chosen.
        var id = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        _ = AtomicLongStateMachine.Add(AtomicLongRecord.Fresh(5), Name, id, 1, proposed);
        var (_, added) = AtomicLongStateMachine.Add(AtomicLongRecord.Fresh(9), Name, id, 1, proposed);
        Assert.Equal((1L, 10L), (added.Value, added.Revision));

        var write = new ValueWrite(id, "v1", null, null, 0);
        var values = new ProposedRevisions();
        _ = ValueStateMachine.Write(ValueRecord.Fresh(5), Name, write, TimeSpan.Zero, 1, values);
        Assert.True(ValueStateMachine.Write(ValueRecord.Fresh(9), Name, write, TimeSpan.Zero, 1, values).Result.Succeeded);
    }

    [Fact]
    public void A_value_write_chosen_and_dropped_from_the_history_fails_as_unknown()
    {
        var id = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        var write = new ValueWrite(id, "v1", 0, null, 0);
        var (chosen, first) = ValueStateMachine.Write(ValueRecord.Empty, Name, write, TimeSpan.Zero, 1, proposed);
        Assert.True(first.Succeeded);
        var later = chosen;
        for (var i = 0; i < ValueStateMachine.MaxHistory; i++)
        {
            later = ValueStateMachine.Write(later, Name, new ValueWrite(Guid.NewGuid(), $"v{i + 2}", null, null, 0), TimeSpan.Zero, 1, new()).Next;
        }

        Assert.Throws<OutcomeUnknownException>(() => ValueStateMachine.Write(later, Name, write, TimeSpan.Zero, 1, proposed));
        var kept = ValueStateMachine.Write(chosen, Name, write, TimeSpan.Zero, 1, proposed);
        Assert.Equal(first.Current.Revision, kept.Result.Current.Revision);
    }

    [Fact]
    public void A_count_down_chosen_and_dropped_from_the_recent_ones_fails_as_unknown()
    {
        const int Initial = 1_000;
        var id = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        var (chosen, _) = LatchStateMachine.CountDown(null, Name, id, Initial, proposed);
        var later = chosen;
        for (var i = 0; i < LatchStateMachine.MaxRecent; i++)
        {
            later = LatchStateMachine.CountDown(later, Name, Guid.NewGuid(), Initial, new()).Next;
        }

        Assert.Throws<OutcomeUnknownException>(() => LatchStateMachine.CountDown(later, Name, id, Initial, proposed));

        // Not chosen, and the recent ones cover where it was proposed: it counts now.
        var fresh = new ProposedRevisions();
        var freshId = Guid.NewGuid();
        _ = LatchStateMachine.CountDown(null, Name, freshId, Initial, fresh);
        var others = LatchStateMachine.CountDown(null, Name, Guid.NewGuid(), Initial, new()).Next;
        Assert.Equal(Initial - 2, LatchStateMachine.CountDown(others, Name, freshId, Initial, fresh).State.Count);
    }
    [Fact]
    public void A_clients_retry_after_a_lost_reply_fails_as_unknown_once_the_changes_since_its_last_seen_revision_are_forgotten()
    {
        // The client last saw revision 10; its add was applied at 11 by an activation that then died with the reply,
        // and the new activation made more changes than a counter keeps before the retry arrived.
        var seen = AddMany(AtomicLongRecord.Empty, 10);
        var id = Guid.NewGuid();
        var applied = AtomicLongStateMachine.Add(seen, Name, id, 1, new()).Next;
        var later = AddMany(applied, AtomicLongStateMachine.MaxRecent);
        Assert.Throws<OutcomeUnknownException>(() => AtomicLongStateMachine.Add(later, Name, id, 1, new ProposedRevisions(retriedSince: 10)));

        // A handle that saw nothing yet cannot tell either, once the counter has forgotten anything.
        Assert.Throws<OutcomeUnknownException>(() => AtomicLongStateMachine.Add(later, Name, id, 1, new ProposedRevisions(retriedSince: 0)));

        // Control: a retry with no memory of its first attempt applies the add a second time.
        Assert.Equal(later.Value + 1, AtomicLongStateMachine.Add(later, Name, id, 1, new()).Result.Value);
    }

    [Fact]
    public void A_clients_retry_is_applied_when_every_change_since_its_last_seen_revision_is_kept_or_nothing_was_ever_forgotten()
    {
        var id = Guid.NewGuid();
        var seen = AddMany(AtomicLongRecord.Empty, 200);
        var later = AddMany(seen, AtomicLongStateMachine.MaxRecent - 1);
        Assert.Equal(later.Value + 3, AtomicLongStateMachine.Add(later, Name, id, 3, new ProposedRevisions(retriedSince: seen.Revision)).Result.Value);

        // A counter that has never dropped a change (fewer than it keeps) answers from what it keeps, whatever the handle saw.
        var young = AddMany(AtomicLongRecord.Fresh(1_000), 5);
        Assert.Equal(6, AtomicLongStateMachine.Add(young, Name, id, 1, new ProposedRevisions(retriedSince: 0)).Result.Value);

        // Values and latches the same way.
        var write = new ValueWrite(id, "v", null, RetriedSince: 0);
        Assert.True(ValueStateMachine.Write(ValueRecord.Fresh(50), Name, write, TimeSpan.Zero, 1, new ProposedRevisions(write.RetriedSince)).Result.Succeeded);
        Assert.Equal(9, LatchStateMachine.CountDown(null, Name, id, 10, new ProposedRevisions(retriedSince: 0)).State.Count);
    }

    [Fact]
    public void A_latch_begun_again_is_not_judged_by_the_count_its_earlier_life_reached()
    {
        // The handle saw the latch released (1000 of 1000); after its retention it began again, the handle's count-down
        // was applied at 5 and its reply lost, and more count-downs followed than a latch keeps.
        const int Initial = 1_000;
        var id = Guid.NewGuid();
        LatchRecord? latch = null;
        for (var i = 0; i < 4; i++)
        {
            latch = LatchStateMachine.CountDown(latch, Name, Guid.NewGuid(), Initial, new()).Next;
        }

        latch = LatchStateMachine.CountDown(latch, Name, id, Initial, new()).Next;
        for (var i = 0; i < LatchStateMachine.MaxRecent; i++)
        {
            latch = LatchStateMachine.CountDown(latch, Name, Guid.NewGuid(), Initial, new()).Next;
        }

        Assert.Throws<OutcomeUnknownException>(() => LatchStateMachine.CountDown(latch, Name, id, Initial, new ProposedRevisions(retriedSince: Initial)));

        // While the latch keeps every count-down of its new life, the retry is answered from them.
        var young = LatchStateMachine.CountDown(null, Name, Guid.NewGuid(), Initial, new()).Next;
        Assert.Equal(Initial - 2, LatchStateMachine.CountDown(young, Name, id, Initial, new ProposedRevisions(retriedSince: Initial)).State.Count);
    }

    [Fact]
    public void A_negative_retried_since_is_a_typed_error()
    {
        var error = Assert.Throws<CoordinationArgumentException>(() => new ProposedRevisions(retriedSince: -1));
        Assert.Equal("retriedSince", error.Argument);
    }
}
