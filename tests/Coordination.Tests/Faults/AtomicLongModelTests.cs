using Coordination.TestKit.Faults;
using static Coordination.Tests.Faults.HandOps;

namespace Coordination.Tests.Faults;

/// <summary>The counter model under the Wing–Gong–Lowe search, on hand-written histories.</summary>
public sealed class AtomicLongModelTests
{
    private static LinearizabilityOutcome Check(params Operation[] ops) => Linearizability.Check(ops, new AtomicLongModel(), TimeSpan.FromSeconds(10)).Outcome;

    [Fact]
    public void Adds_reads_and_compare_and_sets_in_sequence_are_linearizable() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Ok(1, "read", 0, 1, result: 0),
            Ok(1, "add", 2, 3, a: 5, result: 5),
            Ok(2, "cas", 4, 5, a: 5, b: 9, result: 1),
            Ok(2, "cas", 6, 7, a: 5, b: 1, result: 0),
            Ok(1, "read", 8, 9, result: 9)));

    [Fact]
    public void Two_overlapping_adds_may_be_ordered_either_way_but_never_both_see_the_same_value()
    {
        Assert.Equal(LinearizabilityOutcome.Ok, Check(Ok(1, "add", 0, 5, a: 1, result: 2), Ok(2, "add", 1, 6, a: 1, result: 1)));
        Assert.Equal(LinearizabilityOutcome.Illegal, Check(Ok(1, "add", 0, 5, a: 1, result: 1), Ok(2, "add", 1, 6, a: 1, result: 1)));
    }

    [Fact]
    public void A_stale_read_after_an_add_completed_is_illegal_and_an_unknown_add_may_count_or_not()
    {
        Assert.Equal(LinearizabilityOutcome.Illegal, Check(Ok(1, "add", 0, 1, a: 3, result: 3), Ok(2, "read", 2, 3, result: 0)));
        Assert.Equal(LinearizabilityOutcome.Ok, Check(Info(1, "add", 0, a: 3), Ok(2, "read", 2, 3, result: 3)));
        Assert.Equal(LinearizabilityOutcome.Ok, Check(Info(1, "add", 0, a: 3), Ok(2, "read", 2, 3, result: 0)));
    }
}
