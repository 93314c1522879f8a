namespace Coordination;

/// <summary>
/// Lets a repeated log entry through at most once per <c>interval</c> and counts the ones it holds back, so the next
/// entry let through can say how many there were: a summary instead of tens of thousands of lines under load.
/// Thread-safe.
/// </summary>
internal sealed class LogThrottle
{
    private readonly Lock _gate = new();
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private long _lastLogged;
    private bool _loggedAny;
    private int _held;

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is not positive.</exception>
    public LogThrottle(TimeSpan interval, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _interval = interval;
        _time = time;
    }

    /// <summary>The shortest time between two entries let through.</summary>
    public TimeSpan Interval => _interval;

    /// <summary>
    /// Whether this occurrence may be logged: the first one does, and then one per interval. When it may,
    /// <paramref name="heldBack"/> is how many were held back since the last one logged (and the count restarts).
    /// </summary>
    public bool TryEnter(out int heldBack)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (_loggedAny && _time.GetElapsedTime(_lastLogged, now) < _interval)
            {
                _held++;
                heldBack = 0;
                return false;
            }

            heldBack = _held;
            _held = 0;
            _lastLogged = now;
            _loggedAny = true;
            return true;
        }
    }
}
