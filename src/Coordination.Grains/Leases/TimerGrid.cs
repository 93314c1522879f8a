namespace Coordination.Grains.Leases;

/// <summary>
/// Background work of many names due at the same instants. A delay is stretched to the next multiple of a grid on the
/// process's monotonic clock, so the detaches (or retirements) of every lock of a silo that became due within one grid
/// step start together: their replica requests to one silo then leave in one batch (<c>OutboundBatches</c>) instead of
/// one message each. Only background work waits for the grid; nothing anyone waits for does, and nothing is earlier.
/// </summary>
internal static class TimerGrid
{
    /// <summary>The delay from now to the first multiple of <paramref name="grid"/> at least <paramref name="atLeast"/> away.</summary>
    public static TimeSpan DelayTo(TimeProvider time, TimeSpan atLeast, TimeSpan grid)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(grid, TimeSpan.Zero);
        var frequency = time.TimestampFrequency;
        var now = time.GetTimestamp();

        // In the clock's own units (integers: a double loses the low digits of a large timestamp).
        var step = Math.Max(1, ToStamp(grid, frequency));
        var due = now + ToStamp(atLeast < TimeSpan.Zero ? TimeSpan.Zero : atLeast, frequency);
        var past = due % step;
        var end = past == 0 ? due : due + step - past;
        return TimeSpan.FromTicks((long)((((Int128)(end - now) * TimeSpan.TicksPerSecond) + frequency - 1) / frequency));
    }

    private static long ToStamp(TimeSpan span, long frequency) => (long)((Int128)span.Ticks * frequency / TimeSpan.TicksPerSecond);
}
