using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Sessions;

/// <summary>
/// Tells of sessions whose register no majority answers for the silo as a whole, a spell at a time. When a partition
/// has no majority (a cluster starting, silos restarting) every session on it retries, and a line per session (two,
/// with its recovery) buried the console of a silo with thousands of sessions. The spell's first session is told
/// with its error; the others are counted (each at debug, under <c>Coordination.Grains.Sessions.SessionGrain</c>); a
/// spell that goes on is told again at most once per <see cref="Interval"/>; its end, when no session here is left
/// retrying, in one line with how many there were.
/// </summary>
internal sealed partial class UnreachableSessions(ILogger<UnreachableSessions> logger, TimeProvider time)
{
    /// <summary>How often a spell that goes on is told again, at most.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private int _waiting;
    private int _spellSessions;
    private int _mostRetries;
    private long _spellBegan;
    private long _lastTold;

    /// <summary>A session's first failed attempt of a run of them.</summary>
    public void Unreachable(string session, Exception error)
    {
        bool first = false, ongoing = false;
        int waiting, sessions;
        double seconds;
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_waiting++ == 0)
            {
                (first, _spellSessions, _mostRetries, _spellBegan, _lastTold) = (true, 0, 0, now, now);
            }
            else if (time.GetElapsedTime(_lastTold, now) >= Interval)
            {
                (ongoing, _lastTold) = (true, now);
            }

            _spellSessions++;
            (waiting, sessions, seconds) = (_waiting, _spellSessions, time.GetElapsedTime(_spellBegan, now).TotalSeconds);
        }

        if (first)
        {
            LogBegan(logger, session, error.GetType().Name, error.Message);
        }
        else if (ongoing)
        {
            LogGoesOn(logger, waiting, sessions, seconds, error.GetType().Name, error.Message);
        }
    }

    /// <summary>A session that was retrying reached its register after <paramref name="failedAttempts"/>.</summary>
    public void Reached(int failedAttempts) => Left(failedAttempts);

    /// <summary>A session that was retrying went away (its activation ended) before it reached its register.</summary>
    public void Gone() => Left(0);

    private void Left(int failedAttempts)
    {
        var (ended, sessions, retries, seconds) = (false, 0, 0, 0.0);
        lock (_gate)
        {
            if (_waiting == 0)
            {
                return;
            }

            _mostRetries = Math.Max(_mostRetries, failedAttempts);
            if (--_waiting == 0)
            {
                (ended, sessions, retries, seconds) = (true, _spellSessions, _mostRetries, time.GetElapsedTime(_spellBegan).TotalSeconds);
            }
        }

        if (ended)
        {
            LogEnded(logger, sessions, retries, seconds);
        }
    }

    [LoggerMessage(EventId = 3106, Level = LogLevel.Information, Message = "Session registers not reachable yet, first session {Session}'s ({Error}: {Reason}): retrying until they are")]
    private static partial void LogBegan(ILogger logger, string session, string error, string reason);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Information, Message = "{Waiting} sessions here still cannot reach their registers, {Sessions} in this spell of {Seconds:0} s (the latest: {Error}: {Reason})")]
    private static partial void LogGoesOn(ILogger logger, int waiting, int sessions, double seconds, string error, string reason);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Information, Message = "Session registers reached again: {Sessions} sessions retried in a spell of {Seconds:0.0} s, up to {Retries} failed attempts each")]
    private static partial void LogEnded(ILogger logger, int sessions, int retries, double seconds);
}
