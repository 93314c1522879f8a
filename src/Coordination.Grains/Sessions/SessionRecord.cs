using System.Collections.Immutable;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Sessions;

/// <summary>
/// The replicated state of a session (its base register; what it holds lives in its shards,
/// <see cref="SessionShard"/>). Its lease is not a time in the register (no wall clock crosses processes):
/// each activation times the TTL on its own monotonic clock from the last keepalive it committed, or from its
/// own first read after a failover. <see cref="KeepAlives"/> counts committed keepalives, so an activation can
/// only expire the session if none was committed since it last looked. A keepalive rewrites only this
/// record, whose size does not depend on what the session holds or ever held.
/// </summary>
/// <param name="Status">Alive until it expires or is closed; both are final.</param>
/// <param name="Ttl">The lease length.</param>
/// <param name="KeepAlives">Committed keepalives so far.</param>
/// <param name="Notices">Revoked grants the owner has not acknowledged yet (at most <see cref="SessionStateMachine.MaxNotices"/>; a further revoke is refused, never dropped).</param>
/// <param name="NextNotice">The sequence number of the next notice.</param>
/// <param name="SettledThrough">The highest settled-through mark the client declared (see <see cref="SessionShard"/>).</param>
/// <param name="Shards">The shards that may exist: a shard is created only after its number is recorded here, so the session's end finds them all.</param>
/// <param name="Owner">Who opened it, as its client named itself; shown to operators.</param>
/// <param name="Revoked">Why an operator revoked it (null unless revoked): its keepalives and new attachments are refused
/// from then on, so its client gives it up (a close that ends it as expired) or its lease runs out.</param>
[GenerateSerializer, Immutable, Alias("coord.SessionRecord")]
internal sealed record SessionRecord(
    SessionStatus Status,
    TimeSpan Ttl,
    long KeepAlives,
    ImmutableList<SessionNotice> Notices,
    long NextNotice,
    long SettledThrough,
    ImmutableSortedSet<int> Shards,
    string? Owner = null,
    string? Revoked = null) : IRegisterValue
{
    public static SessionRecord Open(TimeSpan ttl, string? owner = null) => new(SessionStatus.Alive, ttl, 0, [], 1, 0, [], owner);

    public bool IsAlive => Status == SessionStatus.Alive;

    long IRegisterValue.Floor => 0;

    int IRegisterValue.EstimatedBytes => 96 + (Owner?.Length ?? 0) + (Revoked?.Length ?? 0) + (Shards.Count * 4) + Notices.Sum(n => 64 + n.LockName.Length + n.Reason.Length);
}

/// <summary>Session transitions as pure functions. Every read of a missing or ended session throws a typed error.</summary>
internal static class SessionStateMachine
{
    /// <summary>Most unacknowledged notices kept; a revoke that would add another is refused (nothing is ever dropped).</summary>
    public const int MaxNotices = 64;

    public static SessionRecord RequireAlive(SessionRecord? current, string sessionId) => current switch
    {
        null => throw new SessionNotFoundException(sessionId),
        { IsAlive: false } => throw new SessionExpiredException(sessionId, current.Revoked is { } why ? $"revoked by an operator: {why}" : current.Status == SessionStatus.Closed ? "closed by its owner" : "its lease expired"),
        _ => current,
    };

    /// <summary>
    /// As <see cref="RequireAlive"/>, and not revoked: what a keepalive or a new attachment needs. A revoked session is
    /// still alive to everything else (its holdings stay attached, audits find them) until it is closed or its lease runs out.
    /// </summary>
    public static SessionRecord RequireUsable(SessionRecord? current, string sessionId)
    {
        var r = RequireAlive(current, sessionId);
        return r.Revoked is { } why ? throw RevokedError(sessionId, why) : r;
    }

    public static SessionExpiredException RevokedError(string sessionId, string why) =>
        new(sessionId, $"revoked by an operator: {why}; what it holds is released when it is closed or its lease runs out");

    /// <summary>
    /// An operator's revoke: refuses the session's keepalives and new attachments from now on, so its client, once it
    /// hears, closes it (as expired, see <see cref="Close"/>), or its lease runs out: its holdings go only after its client
    /// has heard or passed its deadline. An ended session, or one revoked before, is left as it is (the first reason stays).
    /// </summary>
    public static SessionRecord Revoke(SessionRecord? current, string sessionId, string reason) => current switch
    {
        null => throw new SessionNotFoundException(sessionId),
        { IsAlive: true, Revoked: null } => current with { Revoked = reason },
        _ => current,
    };

    public static (SessionRecord Next, KeepAliveResult Result) KeepAlive(SessionRecord? current, string sessionId, long acknowledgedNotice, long settledThrough)
    {
        var r = RequireUsable(current, sessionId);
        var notices = r.Notices.RemoveAll(n => n.Sequence <= acknowledgedNotice);
        var next = r with { KeepAlives = r.KeepAlives + 1, Notices = notices, SettledThrough = Math.Max(r.SettledThrough, settledThrough) };
        return (next, new KeepAliveResult(r.Ttl, [.. notices]));
    }

    /// <summary>Records that shard <paramref name="shard"/> may exist (before it is created); the session must be alive and not revoked.</summary>
    public static SessionRecord UseShard(SessionRecord? current, string sessionId, int shard)
    {
        var r = RequireUsable(current, sessionId);
        return r.Shards.Contains(shard) ? r : r with { Shards = r.Shards.Add(shard) };
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

        // A revoked session's close (its client heard, and gives up at once) is no graceful release: it ends as expired,
        // so its holders' lock-delay applies as it would when the lease ran out.
        return !current.IsAlive ? current
            : current.Revoked is null ? current with { Status = SessionStatus.Closed }
            : current with { Status = SessionStatus.Expired };
    }

    /// <summary>
    /// Records that a grant of this session was revoked, for its owner's next keepalive. An ended or revoked session
    /// needs no notice (its end takes the grant anyway; its keepalives are refused). Refused, with nothing changed, when
    /// the owner has not yet acknowledged <see cref="MaxNotices"/> earlier ones: a notice is never dropped.
    /// </summary>
    public static SessionRecord? Notify(SessionRecord? current, string lockName, Guid requestId, long token, string reason)
    {
        if (current is not { IsAlive: true, Revoked: null })
        {
            // An ended session's end takes the grant anyway; a revoked one has been told already (its keepalives are refused).
            return current;
        }

        if (current.Notices.Count >= MaxNotices)
        {
            throw new RevokeRefusedException(lockName, $"the holder's session has {current.Notices.Count} revocations it has not acknowledged yet, the most it keeps");
        }

        var notice = new SessionNotice(current.NextNotice, lockName, requestId, token, reason);
        return current with { Notices = current.Notices.Add(notice), NextNotice = current.NextNotice + 1 };
    }

    /// <summary>After an ended session deleted one of its shards.</summary>
    public static SessionRecord? ShardGone(SessionRecord? current, int shard) =>
        current is null || current.IsAlive ? current : current with { Shards = current.Shards.Remove(shard) };

    /// <summary>An ended session whose shards are all gone has nothing left to remember: its register is deleted.</summary>
    public static SessionRecord? DeleteIfDone(SessionRecord? current) =>
        current is { IsAlive: false, Shards.IsEmpty: true } ? null : current;
}
