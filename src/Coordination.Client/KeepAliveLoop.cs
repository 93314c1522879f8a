using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>
/// Keeps a session's lease: one keepalive every TTL × <see cref="CoordinationClientOptions.KeepAliveFraction"/>
/// covers every grant of the session, and carries the session's settled-through mark (<see cref="RequestSequence"/>),
/// so the cluster moves it on even while no request is made. Each acknowledged keepalive moves the
/// <see cref="SessionDeadline"/> on from when it was sent and hands the revoke notices it carries to the
/// <see cref="RevocationInbox"/>. After a failure (a failover, no majority) it retries faster until the deadline
/// decides; a session the cluster no longer knows is lost at once.
/// </summary>
internal sealed partial class KeepAliveLoop(CoordinationSession session, SessionDeadline deadline, RevocationInbox inbox, CoordinationClientOptions options, TimeProvider time, ILogger logger)
{
    /// <summary>Runs until <paramref name="stop"/> (the session closing) or the session is lost.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var interval = session.Ttl * options.KeepAliveFraction;
        var lost = session.LostToken;

        // The open may have taken a while: the first keepalive must not wait past half of what is left.
        var wait = deadline.Remaining / 2 < interval ? deadline.Remaining / 2 : interval;
        while (!stop.IsCancellationRequested && !lost.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(wait, time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var sent = ClockReading.Now(time);
            try
            {
                var remaining = deadline.Remaining;
                if (remaining <= TimeSpan.Zero)
                {
                    deadline.CheckPassed();
                    return;
                }

                var ack = await session.Grain.KeepAlive(inbox.Acknowledged, session.Requests.SettledThrough).WaitAsync(remaining < options.CallTimeout ? remaining : options.CallTimeout, time, stop);
                deadline.Acknowledged(sent);
                session.Metrics.RecordKeepAlive(time.GetElapsedTime(sent.Timestamp), acknowledged: true);
                inbox.Deliver(ack.Notices);
                wait = interval;
            }
            catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
            {
                session.MarkLost(ex.Message);
                return;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogKeepAliveFailed(logger, ex, session.Tag);
                session.Metrics.RecordKeepAlive(TimeSpan.Zero, acknowledged: false);
                wait = options.RetryDelay;
            }
        }
    }

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Keepalive of session {Session} failed; retrying until its deadline")]
    private static partial void LogKeepAliveFailed(ILogger logger, Exception exception, string session);
}
