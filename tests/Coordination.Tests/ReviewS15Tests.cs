using Coordination.Grains.Leases;
using Coordination.Grains.Values;

namespace Coordination.Tests;

/// <summary>s15 review: failing tests that demonstrate findings (see the review report).</summary>
public sealed class ReviewS15Tests
{
    private const long Epoch = 1;
    private const string Name = "config/big";

    private static (ValueRecord Next, ValueWriteResult Result) Write(ValueRecord r, string? value, long? expected = null, Guid? id = null) =>
        ValueStateMachine.Write(r, Name, new ValueWrite(id ?? Guid.NewGuid(), value, expected), TimeSpan.Zero, Epoch);

    /// <summary>
    /// README: "a retry after a failover is answered as the first attempt was (while its revision is among the
    /// last 128 retained), not applied twice". With 16 KB values the history keeps only 4 entries (64 Ki chars),
    /// so a compare-and-set whose reply was lost, retried after 4 other writes, is told it FAILED although it
    /// committed — and an unconditional set is applied a second time over newer values.
    /// </summary>
    [Fact]
    public void S15_A_retried_compare_and_set_within_128_revisions_is_answered_as_it_was_even_with_large_values()
    {
        var big = new string('x', ValueStateMachine.MaxValueBytes);
        var id = Guid.NewGuid();
        var (r, first) = Write(ValueRecord.Empty, big, expected: 0, id: id); // committed, reply lost
        Assert.True(first.Succeeded);
        for (var i = 0; i < 4; i++)
        {
            (r, _) = Write(r, new string((char)('a' + i), ValueStateMachine.MaxValueBytes));
        }

        Assert.True(r.Revision - first.Current.Revision < ValueStateMachine.MaxHistory);
        var (_, retry) = Write(r, big, expected: 0, id: id); // the client's retry, same request id
        Assert.True(retry.Succeeded, "the retry of a committed compare-and-set must not be reported as failed");
        Assert.Equal(first.Current.Revision, retry.Current.Revision);
    }

    [Fact]
    public void S15_A_retried_set_within_128_revisions_is_not_applied_twice_even_with_large_values()
    {
        var big = new string('x', ValueStateMachine.MaxValueBytes);
        var id = Guid.NewGuid();
        var (r, _) = Write(ValueRecord.Empty, big, id: id);
        for (var i = 0; i < 4; i++)
        {
            (r, _) = Write(r, new string((char)('a' + i), ValueStateMachine.MaxValueBytes));
        }

        var before = r.Revision;
        var (after, _) = Write(r, big, id: id);
        Assert.Equal(before, after.Revision); // fails: the old write lands again at revision 6, over newer data
    }

    /// <summary>
    /// A session whose state vanished (its partition re-initialised) may still be believed alive by its client, so a
    /// lock it held stays blocked one more TTL (LockStateMachine.SessionEnded, Vanished). An ephemeral value bound to
    /// such a session is deleted at once instead (ValueStateMachine.WithBinding strips the delay): "never early"
    /// does not hold for ephemeral values, e.g. one used ZooKeeper-style as a leader marker is taken over by a
    /// CAS(0) while its owner still believes in it.
    /// </summary>
    [Fact]
    public void S15_An_ephemeral_value_of_a_vanished_session_is_not_deleted_before_its_ttl()
    {
        var (r, _) = ValueStateMachine.Write(ValueRecord.Empty, Name, new ValueWrite(Guid.NewGuid(), "leader-1", 0, "s1", 1), TimeSpan.FromSeconds(10), Epoch);
        var (binding, _) = LockStateMachine.SessionEnded(r.Binding, "s1", SessionEnd.Vanished, Epoch);
        var after = ValueStateMachine.WithBinding(r, binding);
        Assert.Equal("leader-1", after.Value); // fails: deleted at once
    }
}
