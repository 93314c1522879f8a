using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;

namespace Coordination;

/// <summary>Where a session is in its life. Expired and Closed are final.</summary>
public enum SessionStatus
{
    Alive = 0,
    Expired = 1,
    Closed = 2,
}

/// <summary>A session as the cluster sees it after a majority read.</summary>
/// <param name="SessionId">The secret, unguessable id (only returned to the session's owner).</param>
/// <param name="Tag">A public tag derived from the id, safe to show in holder queries and dashboards.</param>
/// <param name="Ttl">The lease: the silo frees the session no sooner than this long after the last keepalive it acknowledged.</param>
/// <param name="Status">Alive, or how it ended.</param>
/// <param name="Holdings">How many locks the session holds or waits for.</param>
/// <param name="Owner">Who opened it, as its client named itself (host and process by default); null when it did not say.</param>
/// <param name="Revoked">Why an operator revoked it; null unless revoked. A revoked session is still alive until its lease runs
/// out (its keepalives are refused), then it expires and everything it holds is released.</param>
[GenerateSerializer, Immutable, Alias("coord.SessionInfo")]
public sealed record SessionInfo(string SessionId, string Tag, TimeSpan Ttl, SessionStatus Status, int Holdings, string? Owner = null, string? Revoked = null);

/// <summary>Something the session's owner must learn: a grant it held was taken away (admin revoke).</summary>
[GenerateSerializer, Immutable, Alias("coord.SessionNotice")]
public sealed record SessionNotice(long Sequence, string LockName, Guid RequestId, long FencingToken, string Reason);

/// <summary>The acknowledgement of a keepalive: sent only after a majority of the session's replicas accepted it.</summary>
/// <param name="Ttl">The session's TTL; the client's deadline is its send time plus TTL·(1−ρ) minus a margin.</param>
/// <param name="Notices">Revoked grants not yet acknowledged by the client (pass the highest sequence back next time).</param>
[GenerateSerializer, Immutable, Alias("coord.KeepAliveResult")]
public sealed record KeepAliveResult(TimeSpan Ttl, ImmutableArray<SessionNotice> Notices);

/// <summary>Helpers around session ids.</summary>
public static class SessionIds
{
    /// <summary>The public tag of a session id: the first 12 hex digits of its SHA-256, so holders can be shown without leaking the secret id.</summary>
    public static string Tag(string sessionId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(sessionId), hash);
        return Convert.ToHexStringLower(hash[..6]);
    }

    /// <summary>A new unguessable session id: 128 random bits from the OS generator, base64url.</summary>
    public static string NewId()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
