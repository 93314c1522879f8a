namespace Coordination.Replication.Protocol;

/// <summary>
/// The hedge delays of a silo's thrifty rounds (<see cref="RoundBroadcaster"/>) on one timer, where each round made a
/// timer and a promise of its own (4 % of what the lock silo allocated under seq, and two takes of the runtime's timer
/// lock per round). A round hands over the signal its first members' replies complete with true; once the delay has
/// passed, this completes it with false. Every round waits the same delay, so the rounds' deadlines come in the order
/// they started and a queue holds them. The timer is armed for the first deadline of a round still unanswered (those
/// answered are passed over when it fires); after a firing that ran rounds out, at least a
/// <see cref="Granularity"/>th of the delay later. While rounds are answered quickly it fires about once per delay, as
/// the runtime's timer thread woke for the rounds' own timers; a hedge is asked at its delay (in whole milliseconds,
/// rounded up), or up to a quarter of it later when rounds close together wait on it.
/// </summary>
/// <remarks>
/// A signal completed before its deadline stays queued until the timer fires (the rounds of about one delay on a busy
/// silo). Nothing is armed while nothing waits, so an idle silo's timer never fires. Rounds run out one after another
/// on the timer's callback, and one outside a grain's scheduler continues inline there, as it did on its own timer.
/// </remarks>
internal sealed class HedgeTimer
{
    /// <summary>The shortest time from a firing that ran rounds out to the next, as a fraction of the delay.</summary>
    public const int Granularity = 4;

    private readonly TimeProvider _time;
    private readonly long _delay;
    private readonly long _spacing;
    private readonly Lock _gate = new();
    private readonly Queue<(long Due, TaskCompletionSource<bool> Signal)> _waiting = new();
    private readonly ITimer _timer;
    private bool _armed;

    public HedgeTimer(TimeProvider time, TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(delay, TimeSpan.Zero);
        _time = time;
        Delay = delay;
        _delay = (long)(delay.TotalSeconds * time.TimestampFrequency);
        _spacing = _delay / Granularity;
        LongestWait = _delay + _spacing + (time.TimestampFrequency / 1000);

        // The timer lives as long as the silo's proposers: it must not keep whatever context its creator ran in.
        var suppress = !ExecutionContext.IsFlowSuppressed();
        if (suppress)
        {
            ExecutionContext.SuppressFlow();
        }

        try
        {
            _timer = time.CreateTimer(static state => ((HedgeTimer)state!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        finally
        {
            if (suppress)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }

    /// <summary>How long a round waits for its first members before it asks the rest.</summary>
    public TimeSpan Delay { get; }

    /// <summary>The longest a signal waits before it runs out (timestamp ticks): the delay, the spacing and a millisecond of rounding.</summary>
    public long LongestWait { get; }

    /// <summary>Completes <paramref name="signal"/> with false once <see cref="Delay"/> has passed, unless something completed it before.</summary>
    public void Start(TaskCompletionSource<bool> signal)
    {
        lock (_gate)
        {
            // The deadline is taken under the lock, so the queue stays in deadline order across threads.
            var now = _time.GetTimestamp();
            _waiting.Enqueue((now + _delay, signal));
            if (!_armed)
            {
                Arm(now, now + _delay);
            }
        }
    }

    private void Fire()
    {
        List<TaskCompletionSource<bool>>? due = null;
        lock (_gate)
        {
            _armed = false;
            var now = _time.GetTimestamp();
            while (_waiting.TryPeek(out var first) && (first.Due <= now || first.Signal.Task.IsCompleted))
            {
                _waiting.Dequeue();
                if (!first.Signal.Task.IsCompleted)
                {
                    (due ??= []).Add(first.Signal);
                }
            }

            if (_waiting.TryPeek(out var next))
            {
                // The spacing only after a firing that ran something out: one that came early (the runtime's timers
                // run on a coarse clock) is armed again for the deadline itself.
                Arm(now, due is null ? next.Due : Math.Max(next.Due, now + _spacing));
            }
        }

        // Off the lock: a round's continuation may run inline here and start another round.
        due?.ForEach(signal => signal.TrySetResult(false));
    }

    private void Arm(long now, long at)
    {
        // Whole milliseconds, rounded up: the runtime's timers cut a due time down to them.
        // At least one: a zero due time could run the callback at once, on a provider that does so inline.
        _timer.Change(TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(_time.GetElapsedTime(now, at).TotalMilliseconds))), Timeout.InfiniteTimeSpan);
        _armed = true;
    }
}
