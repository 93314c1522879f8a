using System.Collections.Immutable;

namespace Coordination.Grains.Sessions;

/// <summary>
/// The replicated state of a session. Its lease is not a time in the register (no wall clock crosses
/// processes): each activation times the TTL on its own monotonic clock from the last keepalive it
/// committed, or from its own first read after a failover. <see cref="KeepAlives"/> counts committed
/// keepalives, so an activation can only expire the session if none was committed since it last looked.
/// </summary>
/// <param name="Status">Alive until it expires or is closed; both are final.</param>
/// <param name="Ttl">The lease length.</param>
/// <param name="KeepAlives">Committed keepalives so far.</param>
/// <param name="Holdings">Locks and elections where the session holds or waits; each is told when the session ends (see <see cref="Leases.SessionAttachments"/>).</param>
/// <param name="Notices">Revoked grants the owner has not acknowledged yet.</param>
/// <param name="NextNotice">The sequence number of the next notice.</param>
[GenerateSerializer, Immutable, Alias("coord.SessionRecord")]
internal sealed record SessionRecord(
    SessionStatus Status,
    TimeSpan Ttl,
    long KeepAlives,
    ImmutableSortedSet<Holding> Holdings,
    ImmutableList<SessionNotice> Notices,
    long NextNotice)
{
    public static SessionRecord Open(TimeSpan ttl) => new(SessionStatus.Alive, ttl, 0, [], [], 1);

    public bool IsAlive => Status == SessionStatus.Alive;
}

/// <summary>Session transitions as pure functions. Every read of a missing or ended session throws a typed error.</summary>
internal static class SessionStateMachine
{
    /// <summary>Most unacknowledged notices kept; older ones are dropped (the owner has long lost the session's locks by then).</summary>
    public const int MaxNotices = 64;

    public static SessionRecord RequireAlive(SessionRecord? current, string sessionId) => current switch
    {
        null => throw new SessionNotFoundException(sessionId),
        { IsAlive: false } => throw new SessionExpiredException(sessionId, current.Status == SessionStatus.Closed ? "closed by its owner" : "its lease expired"),
        _ => current,
    };

    public static (SessionRecord Next, KeepAliveResult Result) KeepAlive(SessionRecord? current, string sessionId, long acknowledgedNotice)
    {
        var r = RequireAlive(current, sessionId);
        var notices = r.Notices.RemoveAll(n => n.Sequence <= acknowledgedNotice);
        var next = r with { KeepAlives = r.KeepAlives + 1, Notices = notices };
        return (next, new KeepAliveResult(r.Ttl, [.. notices]));
    }

    public static SessionRecord Attach(SessionRecord? current, string sessionId, Holding holding)
    {
        var r = RequireAlive(current, sessionId);
        return r.Holdings.Contains(holding) ? r : r with { Holdings = r.Holdings.Add(holding) };
    }

    /// <summary>Expires the session, but only if no keepalive was committed since the caller observed <paramref name="observedKeepAlives"/>.</summary>
    public static (SessionRecord? Next, bool Expired) Expire(SessionRecord? current, long observedKeepAlives)
    {
        if (current is not { IsAlive: true } || current.KeepAlives != observedKeepAlives)
        {
            return (current, false);
        }

        return (current with { Status = SessionStatus.Expired }, true);
    }

    public static SessionRecord Close(SessionRecord? current, string sessionId)
    {
        if (current is null)
        {
            throw new SessionNotFoundException(sessionId);
        }

        return current.IsAlive ? current with { Status = SessionStatus.Closed } : current;
    }

    public static SessionRecord Notify(SessionRecord? current, string lockName, Guid requestId, long token, string reason)
    {
        if (current is not { IsAlive: true })
        {
            return current!;
        }

        var notice = new SessionNotice(current.NextNotice, lockName, requestId, token, reason);
        var notices = current.Notices.Add(notice);
        return current with
        {
            Notices = notices.Count > MaxNotices ? notices.RemoveAt(0) : notices,
            NextNotice = current.NextNotice + 1,
        };
    }

    /// <summary>After an ended session has told a holding, forget it.</summary>
    public static SessionRecord? Released(SessionRecord? current, Holding holding) =>
        current is null || current.IsAlive ? current : current with { Holdings = current.Holdings.Remove(holding) };
}
