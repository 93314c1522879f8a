using Coordination.Grains.Hosting;
using Coordination.Grains.Locks;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// An operator's revoke: tells the holder's session, then takes the grant away, burns a token and keeps the
/// lock free for the holder's TTL (<see cref="LockStateMachine.Revoke"/>). The session hears first, so every
/// keepalive acknowledged after the revoke carries the notice, and the wait that follows ends only after the
/// holder has heard or its client deadline has passed (the client knows first).
/// </summary>
internal sealed partial class GrantRevocation(ILeaseQueue<LockRecord> queue, IGrainFactory grains, ILogger logger)
{
    private const int Attempts = 5;

    public async Task<RevokeResult> RevokeAsync(string reason)
    {
        RequestRules.ValidateRevokeReason(reason);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var holder = (await queue.ReadQueueAsync()).Holder;
            if (holder is not null)
            {
                await TellRevokedAsync(grains, queue.Name, holder, reason);
            }

            var (revoked, last, stale) = await queue.ChangeQueueAsync((q, epoch) =>
            {
                var (next, grant, isStale) = LockStateMachine.Revoke(q, holder?.Token, epoch);
                return (next, (grant, next.LastToken, isStale));
            });
            if (!stale)
            {
                if (revoked is not null)
                {
                    LockMetrics.Revokes.Add(1);
                    LogRevoked(logger, queue.Name, revoked.Token, reason);
                }

                return new RevokeResult(revoked?.ToHolder(), last);
            }
        }

        throw new CoordinationException($"Revoke of '{queue.Name}': the holder kept changing while the revoke was under way; nothing was revoked. Try again.");
    }

    /// <summary>Records the revoke notice in the holder's session (fails if that cannot be done now). An ended session needs none.</summary>
    internal static async Task TellRevokedAsync(IGrainFactory grains, string name, LockGrant holder, string reason)
    {
        try
        {
            await grains.Reference<ISessionGrainInternal>(holder.SessionId).NotifyRevoked(name, holder.RequestId, holder.Token, reason);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            // Its end removes the grant anyway.
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "{Name}: grant with token {Token} revoked: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string name, long token, string reason);
}
