using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Membership.Hosting;

/// <summary>
/// Drives the node on the host's timer every <see cref="ProbeOptions.TickInterval"/>, and watches the timer
/// itself: a tick later than the probe timeout means this process did not run for a while, which the node
/// is told (<see cref="SwimNode.ReportStall"/>) before it judges anyone.
/// </summary>
internal sealed partial class ProbeTicker(LockedSwimNode node, ProbeOptions options, TimeProvider time, Action<NodeOutput> dispatch, ILogger logger)
{
    /// <summary>A machine under load makes every tick late for minutes: one warning per this interval, counting the rest.</summary>
    internal static readonly TimeSpan StallLogInterval = TimeSpan.FromSeconds(30);

    private readonly LogThrottle _stallLog = new(StallLogInterval, time);
    private long _stalls;

    /// <summary>Stalls seen since the start.</summary>
    public long Stalls => Interlocked.Read(ref _stalls);

    public async Task RunAsync(CancellationToken stopping)
    {
        var tick = options.TickInterval;
        var due = node.Now + tick;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var wait = due - node.Now;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, stopping);
                }

                var output = node.Run((n, now) =>
                {
                    var late = now - due;
                    if (late > options.ProbeTimeout)
                    {
                        // This process did not run for a while (GC, starved thread pool, SIGSTOP): our own judgement is suspect.
                        Interlocked.Increment(ref _stalls);
                        n.ReportStall(late);
                        if (_stallLog.TryEnter(out var heldBack))
                        {
                            LogStall(logger, late, heldBack, _stallLog.Interval);
                        }
                    }

                    n.Tick(now);
                    due = (late > tick ? now : due) + tick;
                });
                dispatch(output);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogLoopFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "Probe timer ran {Late} late: local health lowered, the probe in flight dropped unjudged ({HeldBack} more since the last such warning, which are logged at most once per {Interval})")]
    private static partial void LogStall(ILogger logger, TimeSpan late, int heldBack, TimeSpan interval);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Error, Message = "Probe loop step failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
