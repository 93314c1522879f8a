namespace Coordination.TestKit.Simulation;

/// <summary>A <see cref="TimeProvider"/> on the kernel's virtual time: timers are events in its queue.</summary>
internal sealed class SimClock(SimKernel sim) : TimeProvider
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => sim.Now;

    public override DateTimeOffset GetUtcNow() => Origin.AddTicks(sim.Now);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        new SimTimer(sim, callback, state, dueTime, period);

    private sealed class SimTimer : ITimer
    {
        private readonly SimKernel _sim;
        private readonly TimerCallback _callback;
        private readonly object? _state;
        private long _version;
        private bool _disposed;

        public SimTimer(SimKernel sim, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _sim = sim;
            _callback = callback;
            _state = state;
            Change(dueTime, period);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (_disposed)
            {
                return false;
            }

            var version = ++_version;
            if (dueTime != Timeout.InfiniteTimeSpan)
            {
                Arm(version, dueTime, period);
            }

            return true;
        }

        private void Arm(long version, TimeSpan due, TimeSpan period) =>
            _sim.Schedule(due, () =>
            {
                if (_disposed || version != _version)
                {
                    return;
                }

                _callback(_state);
                if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero && version == _version)
                {
                    Arm(version, period, period);
                }
            });

        public void Dispose() => _disposed = true;

        public ValueTask DisposeAsync()
        {
            _disposed = true;
            return ValueTask.CompletedTask;
        }
    }
}
