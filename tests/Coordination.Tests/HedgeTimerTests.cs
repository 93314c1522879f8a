using Coordination.Replication.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>
/// The silo's shared hedge timer (<see cref="HedgeTimer"/>): a round's signal completes with false at its delay
/// unless the round's replies completed it first, never before, and rounds close together are served by one timer
/// firing at most once per quarter of the delay.
/// </summary>
public sealed class HedgeTimerTests
{
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(8);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(1);

    [Fact]
    public async Task A_lone_signal_runs_out_at_its_delay_and_not_before()
    {
        var time = new FakeTimeProvider();
        var hedges = new HedgeTimer(time, Delay);
        var signal = new TaskCompletionSource<bool>();

        hedges.Start(signal);
        time.Advance(Delay - Tick);
        Assert.False(signal.Task.IsCompleted, "the signal ran out before its delay");
        time.Advance(Tick);

        Assert.True(signal.Task.IsCompletedSuccessfully, "the signal did not run out at its delay");
        Assert.False(await signal.Task);
    }

    [Fact]
    public async Task A_signal_the_replies_completed_keeps_their_answer()
    {
        var time = new FakeTimeProvider();
        var hedges = new HedgeTimer(time, Delay);
        var answered = new TaskCompletionSource<bool>();
        var silent = new TaskCompletionSource<bool>();

        hedges.Start(answered);
        time.Advance(Tick);
        hedges.Start(silent);
        answered.TrySetResult(true);
        time.Advance(Delay * 3);

        Assert.True(silent.Task.IsCompleted, "the silent round did not run out");
        Assert.True(await answered.Task, "the timer overwrote a round's replies");
        Assert.False(await silent.Task);
    }

    [Fact]
    public void A_silent_round_behind_answered_ones_runs_out_at_its_own_delay()
    {
        var time = new FakeTimeProvider();
        var hedges = new HedgeTimer(time, Delay);
        for (var i = 0; i < 5; i++)
        {
            var answered = new TaskCompletionSource<bool>();
            hedges.Start(answered);
            answered.TrySetResult(true);
            time.Advance(Tick);
        }

        // The timer was armed for the first (answered) round's deadline; the silent one started 5 ms after it.
        // In steps, as real time passes (the fake clock fires a timer at the end of one advance, not on its way).
        var silent = new TaskCompletionSource<bool>();
        hedges.Start(silent);
        for (var waited = Tick; waited < Delay; waited += Tick)
        {
            time.Advance(Tick);
            Assert.False(silent.Task.IsCompleted, $"the silent round ran out after {waited.TotalMilliseconds} ms, before its delay");
        }

        time.Advance(Tick);

        Assert.True(silent.Task.IsCompleted, "the silent round ran out later than its delay with the timer long idle");
    }

    [Fact]
    public void Silent_rounds_close_together_run_out_within_a_quarter_of_the_delay_of_their_own()
    {
        var time = new FakeTimeProvider();
        var hedges = new HedgeTimer(time, Delay);
        var t0 = time.GetUtcNow();
        var signals = new List<(TaskCompletionSource<bool> Signal, TimeSpan StartedAt)>();
        for (var i = 0; i < 4; i++)
        {
            var signal = new TaskCompletionSource<bool>();
            signals.Add((signal, time.GetUtcNow() - t0));
            hedges.Start(signal);
            time.Advance(TimeSpan.FromMilliseconds(0.5));
        }

        var ranOut = new Dictionary<int, TimeSpan>();
        for (var step = 0; step < 40 && ranOut.Count < signals.Count; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(0.5));
            for (var i = 0; i < signals.Count; i++)
            {
                if (signals[i].Signal.Task.IsCompleted && !ranOut.ContainsKey(i))
                {
                    ranOut[i] = time.GetUtcNow() - t0;
                }
            }
        }

        Assert.Equal(signals.Count, ranOut.Count);
        for (var i = 0; i < signals.Count; i++)
        {
            var waited = ranOut[i] - signals[i].StartedAt;
            Assert.True(waited >= Delay, $"round {i} ran out after {waited.TotalMilliseconds} ms, before its delay");
            Assert.True(waited <= Delay + (Delay / HedgeTimer.Granularity), $"round {i} ran out after {waited.TotalMilliseconds} ms, more than a quarter of the delay late");
        }

        // One firing took the first round; the next came no sooner than a quarter of the delay after it.
        Assert.True(ranOut[1] - ranOut[0] >= Delay / HedgeTimer.Granularity, $"the timer fired again {(ranOut[1] - ranOut[0]).TotalMilliseconds} ms after the first round ran out");
    }

    [Fact]
    public void A_firing_that_runs_nothing_out_arms_for_the_next_deadline_itself()
    {
        // A firing that finds no round due (here: the first round was answered; on a real machine also a timer that
        // fires early on the runtime's coarse clock) must not push the next round's hedge out by the spacing.
        var time = new FakeTimeProvider();
        var hedges = new HedgeTimer(time, Delay);
        var answered = new TaskCompletionSource<bool>();
        hedges.Start(answered);
        answered.TrySetResult(true);
        time.Advance(TimeSpan.FromMilliseconds(0.5));
        var silent = new TaskCompletionSource<bool>();
        hedges.Start(silent);

        var waited = TimeSpan.Zero;
        while (!silent.Task.IsCompleted && waited < Delay * 2)
        {
            time.Advance(TimeSpan.FromMilliseconds(0.25));
            waited += TimeSpan.FromMilliseconds(0.25);
        }

        Assert.True(waited >= Delay, $"the silent round ran out after {waited.TotalMilliseconds} ms, before its delay");
        Assert.True(waited <= Delay + Tick, $"the silent round ran out after {waited.TotalMilliseconds} ms: its hedge waited for the spacing after a firing that ran nothing out");
    }
}
