using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// Ends a pending lock-delay (<see cref="LockRecord.Delay"/>) after its duration, on this activation's
/// timer. A lock-delay is a duration, never a wall-clock time: every activation that sees it restarts it in
/// full, so it can end late but never early, and a timer ends only the delay it was started for. A timer may
/// fire a tick before its due time, so the delay's own monotonic clock decides: fired early, it waits out the rest. A
/// delay nobody calls about is still ended after a silo's death: the failover sweeper re-activates its grain.
/// </summary>
internal sealed partial class LockDelayTimer<TQueue>(IGrainBase owner, ILeaseQueue<TQueue> queue, TimeProvider time, ILogger logger)
    where TQueue : class, ILeaseState<TQueue>
{
    private IGrainTimer? _timer;
    private long _timerFor;
    private long _startedAt;
    private TimeSpan _duration;

    /// <summary>After a committed change: starts the timer for a new delay, or drops it once no delay is pending.</summary>
    public void Arm(TQueue committed)
    {
        if (committed.Delay is { } delay)
        {
            if (_timer is null || _timerFor != delay.AfterToken)
            {
                _timer?.Dispose();
                _timerFor = delay.AfterToken;
                (_startedAt, _duration) = (time.GetTimestamp(), delay.Duration);
                _timer = owner.RegisterGrainTimer(ct => EndAsync(delay.AfterToken), new GrainTimerCreationOptions(delay.Duration, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
            }
        }
        else
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    private async Task EndAsync(long afterToken)
    {
        if (_timerFor == afterToken && time.GetElapsedTime(_startedAt) is var elapsed && elapsed < _duration)
        {
            _timer?.Change(_duration - elapsed, Timeout.InfiniteTimeSpan);
            return;
        }

        try
        {
            await queue.ChangeQueueAsync((q, epoch) => (TQueue.EndLockDelay(q, afterToken, epoch), true));
            if (_timerFor == afterToken)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }
        catch (Exception ex)
        {
            // No majority now: the timer fires again shortly. It can only end this delay, and only late.
            LogEndDeferred(logger, ex, queue.Name);
            if (_timerFor == afterToken)
            {
                _timer?.Change(TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan);
            }
        }
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "{Name}: ending its lock-delay deferred (no majority yet); retrying shortly")]
    private static partial void LogEndDeferred(ILogger logger, Exception exception, string name);
}
