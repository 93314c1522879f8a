namespace Coordination.Client;

/// <summary>One reading of both clocks of a <see cref="TimeProvider"/>: its monotonic timestamp and its wall-clock time.</summary>
internal readonly record struct ClockReading(long Timestamp, DateTimeOffset Wall)
{
    public static ClockReading Now(TimeProvider time) => new(time.GetTimestamp(), time.GetUtcNow());
}

/// <summary>
/// The client's own deadline for a session, the rule of DESIGN.md invariant 5 ("the client knows first"):
/// <para>
/// the deadline is the <em>send</em> time of the last acknowledged keepalive (at first, of the open) + TTL·(1−ρ) −
/// margin (ρ = <see cref="CoordinationClientOptions.ClockDriftBound"/>, margin = <see cref="CoordinationClientOptions.DeadlineMargin"/>),
/// counted on this machine's monotonic clock. The send time and not the reply's arrival, because the cluster's
/// lease runs from when it committed the keepalive, which may be any time after the client sent it; a slow reply
/// must not carry the deadline past the lease. The drift allowance covers this clock running slower than the
/// silos'. As a guard against suspend (the monotonic clock stops while the machine sleeps, the wall clock does
/// not), the same span is also counted on the wall clock from the same send, and whichever runs out first
/// decides. Neither time ever leaves this process.
/// </para>
/// A timer calls back when the deadline passes, so the session's lost signal fires by then at the latest while the
/// process runs: before the cluster can grant the session's locks to anyone else. Pauses of the process beyond
/// that (GC, SIGSTOP) are covered only by fencing tokens. The deadline only moves later, and not at all once the
/// session is lost.
/// </summary>
internal class SessionDeadline : IDisposable
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;
    private readonly CancellationToken _lost;
    private readonly Action _passed;
    private readonly ITimer _timer;
    private Deadline _monotonic;
    private DateTimeOffset _wall;

    /// <param name="opened">When the open that created the session was sent.</param>
    /// <param name="lost">The session's lost signal: a lost session's deadline is zero and stays put.</param>
    /// <param name="passed">Called when the deadline has passed (from its timer, or from <see cref="CheckPassed"/>).</param>
    public SessionDeadline(ClockReading opened, TimeSpan ttl, CoordinationClientOptions options, TimeProvider time, CancellationToken lost, Action passed)
    {
        _time = time;
        _budget = Budget(ttl, options);
        _lost = lost;
        _passed = passed;
        _monotonic = Deadline.After(opened.Timestamp, _budget, time);
        _wall = opened.Wall + _budget;
        _timer = time.CreateTimer(_ => CheckPassed(), null, _monotonic.Remaining, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Time left on both clocks, whichever is less; zero once the session is lost.</summary>
    public TimeSpan Remaining
    {
        get
        {
            if (_lost.IsCancellationRequested)
            {
                return TimeSpan.Zero;
            }

            Deadline monotonic;
            DateTimeOffset wall;
            lock (_gate)
            {
                (monotonic, wall) = (_monotonic, _wall);
            }

            var wallLeft = wall - _time.GetUtcNow();
            var left = monotonic.Remaining < wallLeft ? monotonic.Remaining : wallLeft;
            return left < TimeSpan.Zero ? TimeSpan.Zero : left;
        }
    }

    private protected TimeProvider Time => _time;

    /// <summary>The monotonic deadline as a timestamp of the session's <see cref="TimeProvider"/>.</summary>
    public long Timestamp
    {
        get
        {
            lock (_gate)
            {
                return _monotonic.Timestamp;
            }
        }
    }

    /// <summary>TTL·(1−ρ) − margin, and never below zero (a lease too short for the margin is lost at once).</summary>
    public static TimeSpan Budget(TimeSpan ttl, CoordinationClientOptions options)
    {
        var budget = ttl * (1 - options.ClockDriftBound) - options.DeadlineMargin;
        return budget < TimeSpan.Zero ? TimeSpan.Zero : budget;
    }

    /// <summary>A keepalive sent at <paramref name="sent"/> was acknowledged: the deadline moves to that send + the budget, if that is later.</summary>
    public virtual void Acknowledged(ClockReading sent)
    {
        var monotonic = Deadline.After(sent.Timestamp, _budget, _time);
        lock (_gate)
        {
            if (_lost.IsCancellationRequested || monotonic.Timestamp <= _monotonic.Timestamp)
            {
                return;
            }

            _wall = sent.Wall + _budget;
            _monotonic = monotonic;
            _timer.Change(monotonic.Remaining, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Calls back (the session is then lost) if the deadline has passed; true if it has.</summary>
    public bool CheckPassed()
    {
        if (Remaining > TimeSpan.Zero)
        {
            return false;
        }

        _passed();
        return true;
    }

    public void Dispose() => _timer.Dispose();
}
