using System.Collections.Concurrent;

namespace Coordination.Client;

/// <summary>
/// Where a session's revoke notices land (they ride on keepalive replies): the grants the session holds, so a
/// notice marks its handle revoked; the highest notice seen, which the next keepalive acknowledges so the
/// cluster stops resending it; and a bounded memory of revocations that arrived before the acquire or campaign
/// that got the grant registered its handle, so those are marked the moment it does. Grants are held weakly: a
/// handle the application dropped must stay collectable, so that its finalizer can release it.
/// </summary>
internal sealed class RevocationInbox
{
    private const int MaxRememberedRevocations = 256;
    private readonly ConcurrentDictionary<(string Name, Guid Id), WeakReference<CoordinationGrant>> _grants = new();
    private readonly ConcurrentDictionary<(string Name, Guid Id, long Token), string> _revokedBeforeRegistered = new();
    private long _acknowledged;

    /// <summary>The sequence number of the highest notice delivered, for the next keepalive to acknowledge.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Tracks a grant so revoke notices reach it; one revoked before it was tracked is marked at once.</summary>
    public void Register(CoordinationGrant grant)
    {
        _grants[(grant.GrantName, grant.GrantId)] = new WeakReference<CoordinationGrant>(grant);
        if (_revokedBeforeRegistered.TryRemove((grant.GrantName, grant.GrantId, grant.GrantToken), out var reason))
        {
            grant.MarkRevoked(reason);
        }
    }

    public void Unregister((string Name, Guid Id) grant) => _grants.TryRemove(grant, out _);

    public void Deliver(IReadOnlyList<SessionNotice> notices)
    {
        foreach (var notice in notices)
        {
            if (_grants.TryGetValue((notice.LockName, notice.RequestId), out var weak) && weak.TryGetTarget(out var grant) && grant.GrantToken == notice.FencingToken)
            {
                grant.MarkRevoked(notice.Reason);
            }
            else
            {
                // The acquire that got this grant may not have registered its handle yet: remember it.
                _revokedBeforeRegistered[(notice.LockName, notice.RequestId, notice.FencingToken)] = notice.Reason;
                if (_revokedBeforeRegistered.Count > MaxRememberedRevocations)
                {
                    _revokedBeforeRegistered.TryRemove(_revokedBeforeRegistered.Keys.First(), out _);
                }
            }

            var seen = Interlocked.Read(ref _acknowledged);
            if (notice.Sequence > seen)
            {
                Interlocked.CompareExchange(ref _acknowledged, notice.Sequence, seen);
            }
        }
    }
}
