using Coordination.Grains.Leases;
using Coordination.Grains.Values;

namespace Coordination.Tests;

public sealed class ValueStateMachineTests
{
    /// <summary>Epoch 0, whose revisions (as its fencing tokens) count 1, 2, 3 (a later epoch's begin at epoch · 2^40).</summary>
    private const long Epoch = 0;
    private const string Name = "config/a";
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private static (ValueRecord Next, ValueWriteResult Result) Write(ValueRecord r, string? value, long? expected = null, string? session = null, Guid? id = null, long sequence = 1) =>
        ValueStateMachine.Write(r, Name, new ValueWrite(id ?? Guid.NewGuid(), value, expected, session, session is null ? 0 : sequence), Ttl, Epoch, new ProposedRevisions());

    [Fact]
    public void A_value_whose_state_began_again_continues_above_every_revision_of_its_earlier_life()
    {
        // Its earlier life, in epoch 3: created, changed, deleted.
        var earlier = ValueRecord.Empty;
        var revisions = new List<long>();
        foreach (var value in new[] { "a", "b", null, "c" })
        {
            var (next, result) = ValueStateMachine.Write(earlier, Name, new ValueWrite(Guid.NewGuid(), value, null), Ttl, 3, new ProposedRevisions());
            earlier = next;
            revisions.Add(result.Current.Revision);
        }

        Assert.True(revisions.SequenceEqual(revisions.Order()) && revisions.Distinct().Count() == revisions.Count, string.Join(", ", revisions));

        // Its state is lost (a full restart, a re-initialised partition) and begins again, empty, in epoch 4.
        var (again, created) = ValueStateMachine.Write(ValueRecord.Empty, Name, new ValueWrite(Guid.NewGuid(), "new", 0), Ttl, 4, new ProposedRevisions());
        Assert.True(created.Current.Revision > revisions.Max(), $"revision {created.Current.Revision} after the restart is not above {revisions.Max()} of the earlier life");
        for (var i = 0; i < 3; i++)
        {
            (again, _) = ValueStateMachine.Write(again, Name, new ValueWrite(Guid.NewGuid(), $"new {i}", null), Ttl, 4, new ProposedRevisions());
        }

        // A compare-and-set or delete naming a revision of the earlier life never matches the new one.
        foreach (var old in revisions)
        {
            Assert.False(ValueStateMachine.Write(again, Name, new ValueWrite(Guid.NewGuid(), "stale", old), Ttl, 4, new ProposedRevisions()).Result.Succeeded, $"a compare on revision {old} of the earlier life succeeded");
            Assert.False(ValueStateMachine.Write(again, Name, new ValueWrite(Guid.NewGuid(), null, old), Ttl, 4, new ProposedRevisions()).Result.Succeeded, $"a delete on revision {old} of the earlier life succeeded");
        }
    }

    [Fact]
    public void Sets_and_deletes_take_the_next_revision_and_are_retained_for_watchers()
    {
        var (a, set) = Write(ValueRecord.Empty, "x");
        var (b, replaced) = Write(a, "y");
        var (c, deleted) = Write(b, null);
        Assert.Equal((true, 1L, "x"), (set.Succeeded, set.Current.Revision, set.Current.Value));
        Assert.Equal((true, 2L, "y"), (replaced.Succeeded, replaced.Current.Revision, replaced.Current.Value));
        Assert.Equal((true, 3L, null), (deleted.Succeeded, deleted.Current.Revision, deleted.Current.Value));
        var watch = ValueStateMachine.Watch(c, Name, 0);
        Assert.Equal([(1L, ValueEventKind.Set, "x"), (2L, ValueEventKind.Set, "y"), (3L, ValueEventKind.Deleted, null)], watch.Events.Select(e => (e.Revision, e.Kind, e.Value)));
        Assert.Empty(ValueStateMachine.Watch(c, Name, 3).Events);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData(2L, true)]
    [InlineData(1L, false)]
    [InlineData(0L, false)]
    [InlineData(3L, false)]
    public void Compare_and_set_on_an_existing_value_needs_its_revision(long? expected, bool succeeds)
    {
        var (r, _) = Write(ValueRecord.Empty, "a");
        (r, _) = Write(r, "b");
        var (next, result) = Write(r, "c", expected);
        Assert.Equal(succeeds, result.Succeeded);
        Assert.Equal(succeeds ? "c" : "b", next.Value);
        Assert.Equal(succeeds ? 3 : 2, result.Current.Revision);
    }

    [Fact]
    public void Expected_revision_zero_creates_only_an_absent_value_and_a_delete_of_nothing_changes_nothing()
    {
        var (r, created) = Write(ValueRecord.Empty, "a", 0);
        Assert.True(created.Succeeded);
        var (same, again) = Write(r, "b", 0);
        Assert.False(again.Succeeded);
        Assert.Equal("a", same.Value);
        var (gone, _) = Write(r, null);
        var (still, nothing) = Write(gone, null);
        Assert.False(nothing.Succeeded);
        Assert.Equal(gone.Revision, still.Revision);
        var (recreated, ok) = Write(gone, "c", 0);
        Assert.True(ok.Succeeded);
        Assert.Equal(gone.Revision + 1, recreated.Revision);
    }

    [Fact]
    public void A_retried_write_is_answered_as_it_was_and_applied_once()
    {
        var id = Guid.NewGuid();
        var (r, first) = Write(ValueRecord.Empty, "a", 0, id: id);
        var (r2, retry) = Write(r, "a", 0, id: id);
        Assert.True(retry.Succeeded);
        Assert.Equal(first.Current.Revision, retry.Current.Revision);
        Assert.Same(r, r2);
    }

    /// <summary>
    /// README: a retry is answered as the first attempt was while its revision is among the last 128. With values
    /// of 16 KB the size budget holds only four of them: the retry must still be found by its request id.
    /// </summary>
    [Fact]
    public void A_retried_compare_and_set_within_128_revisions_is_answered_as_it_was_even_with_large_values()
    {
        var big = new string('x', ValueStateMachine.MaxValueBytes);
        var id = Guid.NewGuid();
        var (r, first) = Write(ValueRecord.Empty, big, expected: 0, id: id); // committed, its reply lost
        Assert.True(first.Succeeded);
        for (var i = 0; i < 4; i++)
        {
            (r, _) = Write(r, new string((char)('a' + i), ValueStateMachine.MaxValueBytes));
        }

        Assert.True(r.Revision - first.Current.Revision < ValueStateMachine.MaxHistory);
        var (_, retry) = Write(r, big, expected: 0, id: id);
        Assert.True(retry.Succeeded, "the retry of a committed compare-and-set must not be reported as failed");
        Assert.Equal((first.Current.Revision, big), (retry.Current.Revision, retry.Current.Value));
    }

    [Fact]
    public void A_retried_set_within_128_revisions_is_not_applied_twice_even_with_large_values()
    {
        var big = new string('x', ValueStateMachine.MaxValueBytes);
        var id = Guid.NewGuid();
        var (r, _) = Write(ValueRecord.Empty, big, id: id);
        for (var i = 0; i < ValueStateMachine.MaxHistory - 1; i++)
        {
            (r, _) = Write(r, new string((char)('a' + (i % 26)), ValueStateMachine.MaxValueBytes));
        }

        var (after, retry) = Write(r, big, id: id);
        Assert.Same(r, after);
        Assert.Equal(1, retry.Current.Revision);
    }

    [Fact]
    public void Large_values_keep_the_request_ids_of_128_revisions_within_the_size_budget_and_older_watchers_resync()
    {
        var r = ValueRecord.Empty;
        for (var i = 0; i < ValueStateMachine.MaxHistory + 10; i++)
        {
            (r, _) = Write(r, new string((char)('a' + (i % 26)), ValueStateMachine.MaxValueBytes));
        }

        Assert.Equal(ValueStateMachine.MaxHistory, r.History.Count);
        Assert.True(r.History.Sum(e => e.Value?.Length ?? 0) <= ValueStateMachine.MaxHistoryValueChars);
        var recent = ValueStateMachine.Watch(r, Name, r.Revision - 3);
        Assert.False(recent.Resync);
        Assert.Equal(3, recent.Events.Length);
        Assert.All(recent.Events, e => Assert.Equal(ValueStateMachine.MaxValueBytes, e.Value!.Length));
        var behind = ValueStateMachine.Watch(r, Name, r.Revision - 10);
        Assert.True(behind.Resync, "a watcher of revisions whose values were dropped gets the present, never a set without its value");
        Assert.Equal(r.Value, behind.Current!.Value);
    }

    [Fact]
    public void An_ephemeral_value_is_deleted_when_its_binding_goes_and_a_replaced_binding_is_let_go()
    {
        var (r, set) = Write(ValueRecord.Empty, "up", session: "s1", sequence: 4);
        Assert.NotNull(set.Current.SessionTag);
        Assert.Equal("s1", r.Binding.Holder!.SessionId);

        var (ended, _) = LockStateMachine.SessionEnded(r.Binding, "s1", SessionEnd.Expired, Epoch);
        var after = ValueStateMachine.WithBinding(r, ended);
        Assert.Null(after.Value);
        Assert.Equal(r.Revision + 1, after.Revision);
        Assert.Equal(ValueEventKind.Deleted, after.History[^1].Kind);

        var (replaced, _) = Write(r, "persistent");
        Assert.Null(replaced.Binding.Holder);
        Assert.Contains(replaced.Binding.Finished, f => f.SessionId == "s1" && f.Sequence == 4);
        Assert.Null(ValueStateMachine.Current(replaced, Name).SessionTag);
    }

    /// <summary>
    /// A session whose state vanished (its partition re-initialised) may still be believed alive by its client, so its
    /// ephemeral value stays one more TTL, as a lock it held does (ZooKeeper-style leader markers rely on it).
    /// </summary>
    [Fact]
    public void An_ephemeral_value_of_a_vanished_session_is_not_deleted_before_its_ttl()
    {
        var (r, _) = Write(ValueRecord.Empty, "leader-1", 0, session: "s1");
        var (binding, _) = LockStateMachine.SessionEnded(r.Binding, "s1", SessionEnd.Vanished, Epoch);
        var after = ValueStateMachine.WithBinding(r, binding);
        Assert.Equal(("leader-1", r.Revision), (after.Value, after.Revision));
        Assert.Equal(Ttl, after.Binding.Delay!.Duration);
        Assert.False(Write(after, "leader-2", 0, session: "s2").Result.Succeeded);
    }

    [Fact]
    public void An_ephemeral_value_of_a_vanished_session_is_deleted_when_its_delay_ends_and_not_by_a_stale_end()
    {
        var (r, _) = Write(ValueRecord.Empty, "leader-1", 0, session: "s1");
        var kept = ValueStateMachine.WithBinding(r, LockStateMachine.SessionEnded(r.Binding, "s1", SessionEnd.Vanished, Epoch).Next);
        var delay = kept.Binding.Delay!;

        var stale = ValueStateMachine.WithBinding(kept, LockStateMachine.EndLockDelay(kept.Binding, delay.AfterToken - 1, Epoch));
        Assert.Equal("leader-1", stale.Value);

        var ended = ValueStateMachine.WithBinding(kept, LockStateMachine.EndLockDelay(kept.Binding, delay.AfterToken, Epoch));
        Assert.Null(ended.Value);
        Assert.Equal(kept.Revision + 1, ended.Revision);
        Assert.Equal(ValueEventKind.Deleted, ended.History[^1].Kind);
        Assert.True(ended.IsQuiet);
    }

    [Fact]
    public void A_write_over_the_value_of_a_vanished_session_drops_its_delay_so_the_new_value_stays()
    {
        var (r, _) = Write(ValueRecord.Empty, "leader-1", 0, session: "s1");
        var kept = ValueStateMachine.WithBinding(r, LockStateMachine.SessionEnded(r.Binding, "s1", SessionEnd.Vanished, Epoch).Next);
        var afterToken = kept.Binding.Delay!.AfterToken;
        var (taken, result) = Write(kept, "leader-2", kept.Revision, session: "s2");
        Assert.True(result.Succeeded);
        Assert.Null(taken.Binding.Delay);
        var late = ValueStateMachine.WithBinding(taken, LockStateMachine.EndLockDelay(taken.Binding, afterToken, Epoch));
        Assert.Equal("leader-2", late.Value);
    }

    [Fact]
    public void A_failed_ephemeral_write_leaves_the_value_and_lets_its_attach_go()
    {
        var (r, _) = Write(ValueRecord.Empty, "a");
        var (next, result) = Write(r, "b", expected: 99, session: "s2", sequence: 7);
        Assert.False(result.Succeeded);
        Assert.Equal("a", next.Value);
        Assert.Null(next.Binding.Holder);
        Assert.Contains(next.Binding.Finished, f => f.SessionId == "s2" && f.Sequence == 7);
    }

    [Fact]
    public void A_watcher_behind_the_retained_history_or_ahead_of_the_value_gets_a_resync()
    {
        var r = ValueRecord.Empty;
        for (var i = 0; i < ValueStateMachine.MaxHistory + 10; i++)
        {
            (r, _) = Write(r, $"v{i}");
        }

        var behind = ValueStateMachine.Watch(r, Name, 1);
        Assert.True(behind.Resync);
        Assert.Equal(r.Value, behind.Current!.Value);
        Assert.False(ValueStateMachine.Watch(r, Name, r.Revision - 5).Resync);
        Assert.True(ValueStateMachine.Watch(r, Name, r.Revision + 5).Resync);
    }

    [Fact]
    public void Revisions_of_a_deleted_register_continue_from_the_floor()
    {
        var fresh = ValueRecord.Fresh(500);
        var (r, set) = Write(fresh, "a", 0);
        Assert.True(set.Succeeded);
        Assert.Equal(501, r.Revision);
        Assert.True(ValueStateMachine.Watch(fresh, Name, 3).Resync);
    }

    [Fact]
    public void Bad_writes_are_refused_with_typed_errors()
    {
        Assert.Throws<CoordinationArgumentException>(() => ValueStateMachine.Validate(new ValueWrite(Guid.NewGuid(), new string('x', ValueStateMachine.MaxValueBytes + 1), null)));
        Assert.Throws<CoordinationArgumentException>(() => ValueStateMachine.Validate(new ValueWrite(Guid.Empty, "a", null)));
        Assert.Throws<CoordinationArgumentException>(() => ValueStateMachine.Validate(new ValueWrite(Guid.NewGuid(), "a", -1)));
        Assert.Throws<CoordinationArgumentException>(() => ValueStateMachine.Validate(new ValueWrite(Guid.NewGuid(), null, null, "s1", 1)));
        Assert.Throws<CoordinationArgumentException>(() => ValueStateMachine.Validate(new ValueWrite(Guid.NewGuid(), "a", null, "s1", 0)));
        ValueStateMachine.Validate(new ValueWrite(Guid.NewGuid(), new string('x', ValueStateMachine.MaxValueBytes), 0, "s1", 1));
    }

    [Fact]
    public void Counter_adds_and_compare_and_sets_are_idempotent_per_request_and_refuse_overflow()
    {
        var id = Guid.NewGuid();
        var (r, added) = AtomicLongStateMachine.Add(AtomicLongRecord.Empty, Name, id, 5, new());
        var (r2, retried) = AtomicLongStateMachine.Add(r, Name, id, 5, new());
        Assert.Equal((5L, 1L), (added.Value, added.Revision));
        Assert.Equal(added, retried);
        Assert.Same(r, r2);

        var (r3, failed) = AtomicLongStateMachine.CompareAndSet(r, Name, Guid.NewGuid(), 4, 10, new());
        Assert.False(failed.Succeeded);
        Assert.Same(r, r3);
        var (r4, swapped) = AtomicLongStateMachine.CompareAndSet(r, Name, Guid.NewGuid(), 5, long.MaxValue, new());
        Assert.True(swapped.Succeeded);
        Assert.Throws<CoordinationArgumentException>(() => AtomicLongStateMachine.Add(r4, Name, Guid.NewGuid(), 1, new()));
    }
}
