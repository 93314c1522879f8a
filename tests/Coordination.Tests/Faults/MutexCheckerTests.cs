using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>
/// The interval and token sweeps of <see cref="MutexChecker"/>, as a case table: each case a history on one
/// key written by hand with its clock, the grants exempted from the overlap check (held across a pause of
/// their client), and the verdict.
/// </summary>
public sealed class MutexCheckerTests
{
    private const string Key = "k";

    private enum StepKind
    {
        Invoke,
        Ok,
        Lost,
    }

    /// <summary>At <see cref="At"/>: process <see cref="Process"/> invokes <see cref="F"/> (with a token for a release), completes its outstanding invocation (an acquire with the token granted), or signals that it lost its grant of a token.</summary>
    private sealed record Step(long At, int Process, StepKind Kind, string? F, long? Token);

    private static Step Acquire(long at, int process) => new(at, process, StepKind.Invoke, "acquire", null);

    private static Step Release(long at, int process, long token) => new(at, process, StepKind.Invoke, "release", token);

    private static Step Ok(long at, int process, long? token = null) => new(at, process, StepKind.Ok, null, token);

    private static Step Lost(long at, int process, long token) => new(at, process, StepKind.Lost, null, token);

    /// <param name="Violation">Null when the history must pass; otherwise a part of its one violation.</param>
    /// <param name="Exempt">Grants (process, token) held across a pause of their client.</param>
    private sealed record Case(string Name, Step[] History, string? Violation, params (int Process, long Token)[] Exempt);

    /// <summary>p1 and p2 each granted, neither released: p1's grant (token 5) overlaps p2's (token 6).</summary>
    private static readonly Step[] TwoUnreleasedGrants = [Acquire(0, 1), Ok(1, 1, 5), Acquire(2, 2), Ok(3, 2, 6)];

    /// <summary>p1's grant (token 5) overlaps p2's (token 6), which is released; p1's next grant (token 7) overlaps p2's next (token 8).</summary>
    private static readonly Step[] TwoGrantsOfOneProcessEachOverlapping =
        [Acquire(0, 1), Ok(1, 1, 5), Acquire(2, 2), Ok(3, 2, 6), Release(4, 2, 6), Ok(5, 2), Acquire(6, 1), Ok(7, 1, 7), Acquire(8, 2), Ok(9, 2, 8)];

    private static readonly Case[] Cases =
    [
        new("overlapping grants are caught",
            [Acquire(0, 1), Ok(1, 1, 1), Acquire(2, 2), Ok(3, 2, 2), Release(4, 1, 1), Ok(5, 1)],
            "overlap"),
        new("a grant after the release was sent passes",
            [Acquire(0, 1), Ok(1, 1, 1), Release(2, 1, 1), Acquire(3, 2), Ok(4, 1), Ok(5, 2, 2)],
            null),
        new("a lost signal ends the grant before the next one",
            [Acquire(0, 1), Ok(1, 1, 1), Acquire(2, 2), Lost(3, 1, 1), Ok(4, 2, 2)],
            null),
        new("two grants held at once, neither exempted, are caught",
            TwoUnreleasedGrants,
            "overlap"),
        new("a grant held across a pause is left out of the overlap check",
            TwoUnreleasedGrants,
            null,
            (1, 5)),
        new("only the grant held across a pause is left out, not its process's later grants",
            TwoGrantsOfOneProcessEachOverlapping,
            "token 7",
            (1, 5)),
        new("both grants exempted, the history passes",
            TwoGrantsOfOneProcessEachOverlapping,
            null,
            (1, 5), (1, 7)),
        new("a grant held across a pause is still held to token order",
            [Acquire(0, 1), Ok(1, 1, 5), Acquire(2, 2), Ok(3, 2, 3)],
            "order",
            (1, 5)),
        new("a token granted twice is caught",
            [Acquire(0, 1), Acquire(1, 2), Ok(2, 1, 1), Release(3, 1, 1), Ok(4, 2, 1), Ok(5, 1)],
            "duplicate token 1"),
        new("a later grant with a lower token is caught",
            [Acquire(0, 1), Ok(1, 1, 2), Release(2, 1, 2), Ok(3, 1), Acquire(4, 2), Ok(5, 2, 1)],
            "order"),
    ];

    public static TheoryData<string> CaseNames => [.. Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void The_checker_judges_a_hand_written_history(string @case)
    {
        var c = Cases.Single(x => x.Name == @case);

        var result = MutexChecker.Check(Record(c.History), c.Exempt.Select(g => (Key, g.Process, g.Token)).ToHashSet());

        if (c.Violation is null)
        {
            Assert.True(result.Valid, string.Join("\n", result.Violations));
        }
        else
        {
            Assert.False(result.Valid, $"expected a violation with \"{c.Violation}\"");
            Assert.Contains(c.Violation, Assert.Single(result.Violations));
        }
    }

    /// <summary>Plays the steps through a <see cref="HistoryRecorder"/>, whose clock reads each step's time.</summary>
    private static History Record(IEnumerable<Step> steps)
    {
        long now = 0;
        var recorder = new HistoryRecorder(() => now);
        var outstanding = new Dictionary<int, OpHandle>();
        foreach (var step in steps)
        {
            now = step.At;
            switch (step.Kind)
            {
                case StepKind.Invoke:
                    outstanding.Add(step.Process, recorder.Invoke(step.Process, step.F!, Key, step.Token));
                    break;
                case StepKind.Ok:
                    outstanding.Remove(step.Process, out var op);
                    (op ?? throw new InvalidOperationException($"p{step.Process} completes at {step.At} with nothing outstanding.")).Ok(step.Token);
                    break;
                case StepKind.Lost:
                    recorder.Record(step.Process, "lost", Key, step.Token, null);
                    break;
            }
        }

        return recorder.Snapshot();
    }
}
