using Coordination.Grains.Leases;
using Coordination.Grains.Values;

namespace Coordination.Tests;

public sealed class ValueStateMachineTests
{
    private const long Epoch = 1;
    private const string Name = "config/a";
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private static (ValueRecord Next, ValueWriteResult Result) Write(ValueRecord r, string? value, long? expected = null, string? session = null, Guid? id = null, long sequence = 1) =>
        ValueStateMachine.Write(r, Name, new ValueWrite(id ?? Guid.NewGuid(), value, expected, session, session is null ? 0 : sequence), Ttl, Epoch);

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
        var (r, added) = AtomicLongStateMachine.Add(AtomicLongRecord.Empty, Name, id, 5);
        var (r2, retried) = AtomicLongStateMachine.Add(r, Name, id, 5);
        Assert.Equal((5L, 1L), (added.Value, added.Revision));
        Assert.Equal(added, retried);
        Assert.Same(r, r2);

        var (r3, failed) = AtomicLongStateMachine.CompareAndSet(r, Guid.NewGuid(), 4, 10);
        Assert.False(failed.Succeeded);
        Assert.Same(r, r3);
        var (r4, swapped) = AtomicLongStateMachine.CompareAndSet(r, Guid.NewGuid(), 5, long.MaxValue);
        Assert.True(swapped.Succeeded);
        Assert.Throws<CoordinationArgumentException>(() => AtomicLongStateMachine.Add(r4, Name, Guid.NewGuid(), 1));
    }
}
