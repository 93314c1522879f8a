using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>The fault run's schedule: rounds of every listed kind, drawn from the seed, and a run that goes on until each kind has run once.</summary>
public sealed class FaultScheduleTests
{
    private static readonly FaultKind[] Kinds = [FaultKind.KillSilo, FaultKind.PauseClient, FaultKind.ClientMinority];

    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(40);

    private static readonly TimeSpan Allowance = TimeSpan.FromMinutes(2);

    [Fact]
    public void Every_round_holds_each_listed_kind_once_and_the_seed_fixes_the_order()
    {
        var schedule = new FaultSchedule(Kinds, Duration, Allowance, new Random(303));
        var drawn = Enumerable.Range(0, 4 * Kinds.Length).Select(_ => schedule.Next()).ToList();

        foreach (var round in drawn.Chunk(Kinds.Length))
        {
            Assert.Equal(Kinds.Order(), round.Order());
        }

        var replay = new FaultSchedule(Kinds, Duration, Allowance, new Random(303));
        Assert.Equal(drawn, Enumerable.Range(0, drawn.Count).Select(_ => replay.Next()));
    }

    /// <summary>Each row: how many kinds of the first round were injected, how far into the run, and whether another fault follows.</summary>
    [Theory]
    [InlineData(0, 0, true)]
    [InlineData(3, 39, true)]
    [InlineData(3, 40, false)]
    [InlineData(1, 40, true)]
    [InlineData(2, 159, true)]
    [InlineData(2, 160, false)]
    public void The_run_goes_on_past_its_duration_until_each_kind_ran_but_not_past_the_allowance(int injected, int elapsedSeconds, bool continues)
    {
        var schedule = new FaultSchedule(Kinds, Duration, Allowance, new Random(1));
        for (var i = 0; i < injected; i++)
        {
            schedule.Injected(schedule.Next());
        }

        Assert.Equal(Kinds.Length - injected, schedule.NotYetInjected.Count);
        Assert.Equal(continues, schedule.Continues(TimeSpan.FromSeconds(elapsedSeconds)));
    }
}
