using Coordination.TestKit.Faults;
using static Coordination.Tests.Faults.HandOps;

namespace Coordination.Tests.Faults;

/// <summary>The Wing–Gong–Lowe search against a compare-and-set register, on hand-written histories.</summary>
public sealed class LinearizabilityTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    private static LinearizabilityResult Check(params Operation[] ops) => Linearizability.Check(ops, new CasRegisterModel(), Budget);

    [Fact]
    public void A_sequential_history_is_linearizable() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Ok(1, "read", 0, 1),
            Ok(1, "write", 2, 3, a: 1),
            Ok(2, "read", 4, 5, result: 1),
            Ok(2, "cas", 6, 7, a: 1, b: 2, result: 1),
            Ok(1, "read", 8, 9, result: 2)).Outcome);

    [Fact]
    public void A_read_may_see_a_write_invoked_after_it_when_they_overlap() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Ok(1, "read", 0, 5, result: 1),
            Ok(2, "write", 2, 6, a: 1)).Outcome);

    [Fact]
    public void A_read_of_the_old_value_after_a_read_of_the_new_one_is_illegal_though_each_overlaps_the_write()
    {
        var result = Check(
            Ok(1, "write", 0, 10, a: 1),
            Ok(2, "read", 1, 2, result: 1),
            Ok(2, "read", 3, 4));
        Assert.Equal(LinearizabilityOutcome.Illegal, result.Outcome);
        Assert.Contains("could not place next", result.Explanation);
    }

    [Fact]
    public void Operations_touching_at_one_instant_count_as_concurrent() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Ok(1, "write", 0, 5, a: 1),
            Ok(2, "read", 5, 6)).Outcome);

    [Fact]
    public void A_cas_swaps_only_on_a_match_and_reports_which()
    {
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Ok(1, "write", 0, 1, a: 1),
            Ok(1, "cas", 2, 3, a: 1, b: 2, result: 1),
            Ok(1, "cas", 4, 5, a: 1, b: 3, result: 0),
            Ok(1, "read", 6, 7, result: 2)).Outcome);
        Assert.Equal(LinearizabilityOutcome.Illegal, Check(
            Ok(1, "write", 0, 1, a: 1),
            Ok(1, "cas", 2, 3, a: 2, b: 3, result: 1)).Outcome);
        Assert.Equal(LinearizabilityOutcome.Illegal, Check(
            Ok(1, "write", 0, 1, a: 1),
            Ok(1, "cas", 2, 3, a: 1, b: 3, result: 0)).Outcome);
    }

    [Fact]
    public void A_write_of_unknown_outcome_may_have_happened() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Info(1, "write", 0, a: 1),
            Ok(2, "read", 5, 6, result: 1)).Outcome);

    [Fact]
    public void A_write_of_unknown_outcome_may_not_have_happened() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Check(
            Info(1, "write", 0, a: 1),
            Ok(2, "read", 5, 6)).Outcome);

    [Fact]
    public void A_write_of_unknown_outcome_once_seen_stays_seen() =>
        Assert.Equal(LinearizabilityOutcome.Illegal, Check(
            Info(1, "write", 0, a: 1),
            Ok(2, "read", 5, 6, result: 1),
            Ok(2, "read", 7, 8)).Outcome);

    [Fact]
    public void A_failed_write_whose_value_is_read_is_illegal() =>
        Assert.Equal(LinearizabilityOutcome.Illegal, Check(
            Fail(1, "write", 0, 1, a: 1),
            Ok(2, "read", 2, 3, result: 1)).Outcome);

    [Fact]
    public void A_search_that_runs_out_of_budget_is_unknown()
    {
        var ops = Enumerable.Range(0, 200)
            .Select(p => Info(p, "write", 0, a: p))
            .Append(Ok(1000, "read", 1, 2, result: -1))
            .ToArray();
        var result = Linearizability.Check(ops, new CasRegisterModel(), TimeSpan.Zero);
        Assert.Equal(LinearizabilityOutcome.Unknown, result.Outcome);
        Assert.Contains("budget", result.Explanation);
    }

    [Fact]
    public void Keys_are_checked_independently()
    {
        long now = 0;
        var recorder = new HistoryRecorder(() => now++);
        recorder.Invoke(1, "write", "a", 1).Ok();
        recorder.Invoke(1, "read", "a").Ok(1);
        recorder.Invoke(2, "write", "b", 1).Ok();
        recorder.Invoke(2, "read", "b").Ok(2);

        var results = Linearizability.CheckPerKey(recorder.Snapshot(), _ => true, new CasRegisterModel(), Budget);

        Assert.Equal(LinearizabilityOutcome.Ok, results["a"].Outcome);
        Assert.Equal(LinearizabilityOutcome.Illegal, results["b"].Outcome);
    }
}
