using Coordination.TestKit.Faults;
using static Coordination.Tests.Faults.HandOps;

namespace Coordination.Tests.Faults;

/// <summary>The plain and fenced mutex models under the linearizability search.</summary>
public sealed class MutexModelTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    private static LinearizabilityOutcome Plain(params Operation[] ops) => Linearizability.Check(ops, new MutexModel(), Budget).Outcome;

    private static LinearizabilityOutcome Fenced(params Operation[] ops) => Linearizability.Check(ops, new FencedMutexModel(), Budget).Outcome;

    [Fact]
    public void Two_grants_with_no_release_between_are_illegal()
    {
        Operation[] ops =
        [
            Ok(1, "acquire", 0, 2, result: 1),
            Ok(2, "acquire", 1, 3, result: 2),
        ];
        Assert.Equal(LinearizabilityOutcome.Illegal, Plain(ops));
        Assert.Equal(LinearizabilityOutcome.Illegal, Fenced(ops));
    }

    [Fact]
    public void Acquire_release_acquire_is_linearizable()
    {
        Operation[] ops =
        [
            Ok(1, "acquire", 0, 1, result: 1),
            Ok(1, "release", 2, 3, a: 1),
            Ok(2, "acquire", 4, 5, result: 2),
        ];
        Assert.Equal(LinearizabilityOutcome.Ok, Plain(ops));
        Assert.Equal(LinearizabilityOutcome.Ok, Fenced(ops));
    }

    [Fact]
    public void A_token_that_does_not_increase_is_illegal_only_for_the_fenced_mutex()
    {
        Operation[] ops =
        [
            Ok(1, "acquire", 0, 1, result: 5),
            Ok(1, "release", 2, 3, a: 5),
            Ok(2, "acquire", 4, 5, result: 4),
        ];
        Assert.Equal(LinearizabilityOutcome.Ok, Plain(ops));
        Assert.Equal(LinearizabilityOutcome.Illegal, Fenced(ops));
    }

    [Fact]
    public void A_release_under_another_token_is_illegal_for_the_fenced_mutex() =>
        Assert.Equal(LinearizabilityOutcome.Illegal, Fenced(
            Ok(1, "acquire", 0, 1, result: 5),
            Ok(1, "release", 2, 3, a: 4)));

    [Fact]
    public void An_acquire_of_unknown_outcome_need_not_have_taken_effect() =>
        Assert.Equal(LinearizabilityOutcome.Ok, Fenced(
            Info(1, "acquire", 0),
            Ok(2, "acquire", 1, 2, result: 3)));
}
