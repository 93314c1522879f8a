namespace Coordination.Client;

/// <summary>
/// A point in time on a <see cref="TimeProvider"/>'s monotonic clock: a span counted from one of its timestamps,
/// or never. Timeouts, retry budgets and the session's client deadline are all counted with it, so the span to
/// timestamp conversion lives here only. It reads the provider on every question, so fake time drives it in tests.
/// </summary>
internal readonly record struct Deadline
{
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly TimeSpan _span;

    private Deadline(TimeProvider time, long start, TimeSpan span)
    {
        _time = time;
        _start = start;
        _span = span;
    }

    /// <summary><paramref name="span"/> from now; <see cref="Timeout.InfiniteTimeSpan"/> never passes.</summary>
    public static Deadline FromNow(TimeSpan span, TimeProvider time) => After(time.GetTimestamp(), span, time);

    /// <summary><paramref name="span"/> after <paramref name="start"/>, a timestamp of <paramref name="time"/>.</summary>
    public static Deadline After(long start, TimeSpan span, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return span < TimeSpan.Zero && span != Timeout.InfiniteTimeSpan
            ? throw new ArgumentOutOfRangeException(nameof(span), span, "A deadline's span must be zero or more, or Timeout.InfiniteTimeSpan.")
            : new Deadline(time, start, span);
    }

    /// <summary>A deadline that never passes, counted from now (its <see cref="Elapsed"/> still grows).</summary>
    public static Deadline Infinite(TimeProvider time) => FromNow(Timeout.InfiniteTimeSpan, time);

    public bool IsInfinite => _span == Timeout.InfiniteTimeSpan;

    /// <summary>Time since the deadline's start.</summary>
    public TimeSpan Elapsed => _time.GetElapsedTime(_start);

    /// <summary>Time left, never negative; <see cref="TimeSpan.MaxValue"/> when infinite (so a minimum with a finite span is that span).</summary>
    public TimeSpan Remaining
    {
        get
        {
            if (IsInfinite)
            {
                return TimeSpan.MaxValue;
            }

            var left = _span - Elapsed;
            return left < TimeSpan.Zero ? TimeSpan.Zero : left;
        }
    }

    public bool IsPassed => Remaining == TimeSpan.Zero;

    /// <summary>Time left until <paramref name="grace"/> after the deadline, never negative; <see cref="TimeSpan.MaxValue"/> when infinite.</summary>
    public TimeSpan RemainingWith(TimeSpan grace)
    {
        if (IsInfinite)
        {
            return TimeSpan.MaxValue;
        }

        var left = _span + grace - Elapsed;
        return left < TimeSpan.Zero ? TimeSpan.Zero : left;
    }

    /// <summary>The deadline as a timestamp of its provider (<see cref="long.MaxValue"/> when infinite), for comparing deadlines and for tests that compare them across processes.</summary>
    public long Timestamp => IsInfinite ? long.MaxValue : _start + (long)(_span.TotalSeconds * _time.TimestampFrequency);
}
