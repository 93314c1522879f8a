using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>What a quiet queue's retirement found.</summary>
internal enum Retirement
{
    /// <summary>Held, waited for or delayed again: nothing to retire.</summary>
    Busy,

    /// <summary>Quiet, but a finished request is still to be let go at its session: look again later.</summary>
    Waiting,

    /// <summary>The register is deleted (or never existed): the activation may go.</summary>
    Gone,
}

/// <summary>
/// Retires a queue that stays quiet. A lock in use keeps its register between uses (a release is one round,
/// and the next acquire needs no re-creation); once it has been quiet (nothing held, waited for or delayed) for
/// <see cref="Hosting.CoordinationOptions.IdleRetention"/>, its register is deleted if nothing is left to
/// remember, and the activation deactivates when idle instead of staying for Orleans' collection age (many
/// minutes). So a lock per entity keeps memory and replica slots for what is held and what was used in the
/// last few seconds, not for every name used lately. Nothing is lost by deactivating: the replicas hold all there is.
/// </summary>
internal sealed partial class IdleRetirement(IGrainBase owner, Func<Task<Retirement>> retireAsync, TimeProvider time, TimeSpan retention, ILogger logger)
{
    /// <summary>
    /// The longest a client's retries of one change may arrive after its first attempt: the client keeps
    /// CleanupTimeout + CallTimeout + RetryDelay below it. A register whose retirement deletes what such a retry must
    /// find (a counter back at 0, a value deleted, a released latch) keeps it at least this long after its last
    /// change, so a retry never finds it absent after its first attempt was applied, and is never applied twice.
    /// </summary>
    public static readonly TimeSpan RetrySpan = TimeSpan.FromSeconds(30);

    private IGrainTimer? _timer;
    private long? _quietSince;

    /// <summary><paramref name="retention"/>, or <see cref="RetrySpan"/> if that is longer.</summary>
    public static TimeSpan AtLeastRetrySpan(TimeSpan retention) => retention > RetrySpan ? retention : RetrySpan;

    /// <summary>
    /// After a committed change (and at activation): notes when the queue became quiet, or that it is not. One
    /// timer at a time, started when none runs, so a lock in constant use does not pay for a timer per operation.
    /// </summary>
    public void Arm(bool quiet)
    {
        if (!quiet)
        {
            _quietSince = null;
            return;
        }

        _quietSince ??= time.GetTimestamp();
        _timer ??= Start(retention);
    }

    /// <summary>
    /// Retirements wait for the next quarter second on the process's clock (<see cref="TimerGrid"/>), so those of many
    /// quiet locks go out together; a finer grid would batch less, a coarser one make larger bursts.
    /// </summary>
    private static readonly TimeSpan Grid = TimeSpan.FromMilliseconds(250);

    // KeepAlive false: the timer itself must not count as use of the activation.
    private IGrainTimer Start(TimeSpan due) =>
        owner.RegisterGrainTimer(_ => FireAsync(), new GrainTimerCreationOptions(TimerGrid.DelayTo(time, due, Grid < retention ? Grid : retention), Timeout.InfiniteTimeSpan) { KeepAlive = false, Interleave = true });

    private async Task FireAsync()
    {
        _timer?.Dispose();
        _timer = null;
        if (_quietSince is not { } since)
        {
            // Busy now; the next quiet commit starts counting again.
            return;
        }

        var quietFor = time.GetElapsedTime(since);
        if (quietFor < retention)
        {
            _timer = Start(retention - quietFor);
            return;
        }

        Retirement found;
        try
        {
            found = await retireAsync();
        }
        catch (Exception ex)
        {
            // No majority now: stay, and look again after another retention.
            LogRetireFailed(logger, ex);
            found = Retirement.Waiting;
        }

        switch (found)
        {
            case Retirement.Gone:
                owner.DeactivateOnIdle();
                break;
            case Retirement.Waiting:
                _timer ??= Start(retention);
                break;
            default:
                _quietSince = null;
                break;
        }
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "A quiet lock stays for now: retiring it needs a majority")]
    private static partial void LogRetireFailed(ILogger logger, Exception exception);
}
