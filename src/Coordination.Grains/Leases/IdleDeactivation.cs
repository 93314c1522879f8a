using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// Lets go of an activation whose name has nothing left to remember. Orleans keeps an idle activation for
/// its collection age (many minutes), so a lock per entity would keep an activation, and its proposer, for
/// every name used in that time: memory that grows with throughput, not with what is held. Once the
/// committed value is absent (nothing held, waited for or remembered: the register was deleted, or never
/// existed) and stays so for the retention, a read confirms it is still absent and the activation
/// deactivates when idle. A hot name deleted between uses keeps its activation, since its next use comes
/// before the retention runs out. Nothing is lost by deactivating: the replicas hold all there is.
/// </summary>
internal sealed partial class IdleDeactivation(IGrainBase owner, Func<Task<bool>> isAbsentAsync, TimeSpan retention, ILogger logger)
{
    private IGrainTimer? _timer;

    /// <summary>After a committed change (and at activation): starts counting while the value is absent, stops when it is not.</summary>
    public void Arm(bool absent)
    {
        if (!absent)
        {
            _timer?.Dispose();
            _timer = null;
        }
        else
        {
            // KeepAlive false: the timer itself must not count as use of the activation.
            _timer ??= owner.RegisterGrainTimer(_ => FireAsync(), new GrainTimerCreationOptions(retention, Timeout.InfiniteTimeSpan) { KeepAlive = false, Interleave = true });
        }
    }

    private async Task FireAsync()
    {
        _timer?.Dispose();
        _timer = null;
        try
        {
            if (await isAbsentAsync())
            {
                owner.DeactivateOnIdle();
            }
        }
        catch (Exception ex)
        {
            // No majority for the read: keep the activation; the next commit or activation arms the timer again.
            LogCheckFailed(logger, ex);
        }
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "An idle activation stays: reading whether its register is still absent failed")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
