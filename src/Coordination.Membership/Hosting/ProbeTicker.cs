using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Membership.Hosting;

/// <summary>
/// Drives the node on the host's timer, and watches the timer itself: a step later than the probe timeout means
/// this process did not run for a while, which the node is told (<see cref="SwimNode.ReportStall"/>) before it
/// judges anyone.
/// </summary>
/// <remarks>
/// The loop sleeps until the node next has something to do (<see cref="SwimNode.NextDue"/>: two steps per probe period
/// when all is well, the ping and one a tick later, when its ack is in), not a step every <see cref="ProbeOptions.TickInterval"/>: each wake costs a thread-pool
/// worker's wake-up and spin, and a fixed 20 ms tick made half of an idle silo's CPU. Any call into the node (a message
/// received, a membership change) reports its new deadline (<see cref="Heard"/>), which wakes the loop when it is
/// earlier than the one it sleeps for. Steps stay at least a tick interval apart, and at most a probe interval.
/// </remarks>
internal sealed partial class ProbeTicker
{
    /// <summary>A machine under load makes every tick late for minutes: one warning per this interval, counting the rest.</summary>
    internal static readonly TimeSpan StallLogInterval = TimeSpan.FromSeconds(30);

    private readonly LockedSwimNode _node;
    private readonly ProbeOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<NodeOutput> _dispatch;
    private readonly ILogger _logger;
    private readonly LogThrottle _stallLog;
    private readonly Lock _gate = new();
    private long _stalls;
    private long _steps;

    /// <summary>The earliest deadline reported since the loop last went to sleep.</summary>
    private TimeSpan _heard = TimeSpan.MaxValue;

    /// <summary>Completed to wake the sleeping loop; null while it is awake.</summary>
    private TaskCompletionSource? _wake;

    /// <summary>When the sleeping loop wakes by itself, and the earliest it may step (a tick after its last step).</summary>
    private TimeSpan _sleepUntil;
    private TimeSpan _notBefore;
    private long _sleeps;

    public ProbeTicker(LockedSwimNode node, ProbeOptions options, TimeProvider time, Action<NodeOutput> dispatch, ILogger logger)
    {
        _node = node;
        _options = options;
        _time = time;
        _dispatch = dispatch;
        _logger = logger;
        _stallLog = new LogThrottle(StallLogInterval, time);
        node.OnDueChanged(Heard);
    }

    /// <summary>Stalls seen since the start.</summary>
    public long Stalls => Interlocked.Read(ref _stalls);

    /// <summary>Steps the loop has made since the start, for tests.</summary>
    internal long Steps => Interlocked.Read(ref _steps);

    public async Task RunAsync(CancellationToken stopping)
    {
        var tick = _options.TickInterval;

        // The first step is due a tick after the loop began, at the earliest (SleepAsync's notBefore), not at a deadline
        // the node set before: its first probe is due at once from when it was made, seconds before a starting silo
        // begins this loop, and judged from then every start looked like a stall of that length.
        var stepped = _node.Now;
        var due = stepped + tick;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                due = await SleepAsync(due, stepped + tick, stopping);
                var output = _node.Run((n, now) =>
                {
                    var late = now - due;
                    if (late > _options.ProbeTimeout)
                    {
                        // This process did not run for a while (GC, starved thread pool, SIGSTOP): our own judgement is suspect.
                        Interlocked.Increment(ref _stalls);
                        n.ReportStall(late);
                        if (_stallLog.TryEnter(out var heldBack))
                        {
                            LogStall(_logger, late, heldBack, _stallLog.Interval);
                        }
                    }

                    n.Tick(now);
                    stepped = now;
                    var next = n.NextDue(now);
                    var latest = now + _options.ProbeInterval;
                    due = next < latest ? next : latest;
                });
                Interlocked.Increment(ref _steps);
                _dispatch(output);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogLoopFailed(_logger, ex);
                due = _node.Now + tick;
            }
        }
    }

    /// <summary>A call into the node left it with something to do at <paramref name="due"/>: wakes the loop if that is sooner than it would wake.</summary>
    private void Heard(TimeSpan due)
    {
        TaskCompletionSource? wake = null;
        lock (_gate)
        {
            if (due < _heard)
            {
                _heard = due;
            }

            if (_wake is not null && (due > _notBefore ? due : _notBefore) < _sleepUntil)
            {
                (wake, _wake) = (_wake, null);
            }
        }

        // Its continuation runs on the thread pool, never inside the caller's call into the node.
        wake?.TrySetResult();
    }

    /// <summary>
    /// Sleeps until <paramref name="due"/>, or until the earliest deadline heard meanwhile, but not before
    /// <paramref name="notBefore"/>. Returns the time it meant to wake at, which the step's lateness is judged from.
    /// </summary>
    private async Task<TimeSpan> SleepAsync(TimeSpan due, TimeSpan notBefore, CancellationToken stopping)
    {
        while (true)
        {
            var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task delay;
            lock (_gate)
            {
                if (_heard < due)
                {
                    due = _heard;
                }

                if (due < notBefore)
                {
                    due = notBefore;
                }

                _heard = TimeSpan.MaxValue;
                var wait = due - _node.Now;
                if (wait <= TimeSpan.Zero)
                {
                    return due;
                }

                // Set before the loop counts as asleep. The delay of a sleep cut short runs out on its own (at most a
                // probe interval later).
                delay = Task.Delay(wait, _time, stopping);
                (_wake, _sleepUntil, _notBefore) = (wake, due, notBefore);
                _sleeps++;
            }

            if (await Task.WhenAny(delay, wake.Task) == delay)
            {
                Awake();
                await delay;
                return due;
            }
        }
    }

    private void Awake()
    {
        lock (_gate)
        {
            _wake = null;
        }
    }

    /// <summary>For tests: whether the loop sleeps, until when, and how many sleeps it began.</summary>
    internal (bool Asleep, TimeSpan Until, long Sleeps) Sleep
    {
        get
        {
            lock (_gate)
            {
                return (_wake is not null, _sleepUntil, _sleeps);
            }
        }
    }

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "Probe timer ran {Late} late: local health lowered, the probe in flight dropped unjudged ({HeldBack} more since the last such warning, which are logged at most once per {Interval})")]
    private static partial void LogStall(ILogger logger, TimeSpan late, int heldBack, TimeSpan interval);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Error, Message = "Probe loop step failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
