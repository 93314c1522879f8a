using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// Lets the sessions of finished requests let them go. A request that ended here (released, cancelled,
/// revoked) is kept in the register's finished list, refusing a late copy of it, until its session has
/// detached it; then the queue forgets it (<see cref="LockStateMachine.LetGo"/>), and an idle queue with
/// nothing left to remember is deleted. The session refuses the request from then on (its number is settled),
/// so one of the two always does (see <see cref="SessionAttachments"/>). Failures are retried with backoff;
/// if this activation goes away first, the next one (or the sweeper's ping) takes over from the register.
/// </summary>
internal sealed partial class FinishedRequests(ILeaseQueue queue, IGrainFactory grains, Holding holding, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);
    private readonly HashSet<(string Session, Guid Request)> _underway = [];

    /// <summary>After a committed change: starts letting go of every finished request not already under way.</summary>
    public void LetGo(LockRecord committed)
    {
        foreach (var f in committed.Finished)
        {
            if (_underway.Add((f.SessionId, f.RequestId)))
            {
                _ = LetGoAsync(f);
            }
        }
    }

    private async Task LetGoAsync(FinishedRequest finished)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(50), MaxRetryDelay);
        try
        {
            while (true)
            {
                try
                {
                    if (finished.Sequence > 0)
                    {
                        await grains.GetGrain<ISessionGrainInternal>(finished.SessionId).Detach(holding, finished.Sequence);
                    }

                    await queue.ChangeQueueAsync((q, _) => (LockStateMachine.LetGo(q, finished.SessionId, finished.RequestId), true));
                    return;
                }
                catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
                {
                    // The session is over: it has let go of everything, and refuses every request.
                    await queue.ChangeQueueAsync((q, _) => (LockStateMachine.LetGo(q, finished.SessionId, finished.RequestId), true));
                    return;
                }
                catch (Exception ex)
                {
                    LogLetGoDeferred(logger, ex, queue.Name, SessionIds.Tag(finished.SessionId));
                    await backoff.DelayAsync(time);
                }
            }
        }
        catch (Exception ex)
        {
            LogLetGoDeferred(logger, ex, queue.Name, SessionIds.Tag(finished.SessionId));
        }
        finally
        {
            _underway.Remove((finished.SessionId, finished.RequestId));
        }
    }

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "{Name}: letting session {Session} let go of a finished request deferred; retrying")]
    private static partial void LogLetGoDeferred(ILogger logger, Exception exception, string name, string session);
}
