using Coordination.Grains.Leases;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.SharedLocks;

/// <summary>
/// An operator's revoke of a semaphore or reader-writer lock, as <see cref="GrantRevocation"/> revokes a lock: every
/// holder's session is told first, then the told grants still held are taken away in one accept, a token is burned
/// and nothing is granted for the holders' TTL (<see cref="SharedLockStateMachine.Revoke"/>), so each revoked client
/// has heard at a keepalive, or passed its deadline, before its permit or lock can be granted again.
/// </summary>
internal sealed partial class SharedGrantRevocation(ILeaseQueue<SharedLockRecord> queue, IGrainFactory grains, ILogger logger)
{
    public async Task<(IReadOnlyList<LockGrant> Revoked, SharedLockRecord After)> RevokeAsync(string reason)
    {
        RequestRules.ValidateRevokeReason(reason);
        var holders = (await queue.ReadQueueAsync()).Holders;
        await Task.WhenAll(holders.Select(h => GrantRevocation.TellRevokedAsync(grains, queue.Name, h, reason)));
        var told = holders.Select(h => (h.SessionId, h.RequestId, h.Token)).ToHashSet();
        var result = await queue.ChangeQueueAsync((q, epoch) =>
        {
            var (next, revoked) = SharedLockStateMachine.Revoke(q, told, epoch);
            return (next, (revoked, next));
        });
        foreach (var grant in result.revoked)
        {
            LogRevoked(logger, queue.Name, grant.Token, reason);
        }

        return result;
    }

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "{Name}: shared grant with token {Token} revoked: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string name, long token, string reason);
}
