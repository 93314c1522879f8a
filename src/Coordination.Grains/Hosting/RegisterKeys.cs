using Coordination.Grains.Sessions;

namespace Coordination.Grains.Hosting;

/// <summary>
/// The register key of each session, lock and election: a two-character kind prefix, then its id or name.
/// A key's hash picks its partition, so these strings must never change.
/// </summary>
internal static class RegisterKeys
{
    private const string SessionPrefix = "s/";
    private const string LockPrefix = "l/";
    private const string ElectionPrefix = "e/";
    private const string ValuePrefix = "v/";
    private const string AtomicLongPrefix = "n/";
    private const string LatchPrefix = "c/";

    public static string Session(string id) => SessionPrefix + id;

    /// <summary>The register of shard <paramref name="shard"/> of a session's holdings (session ids never contain '/').</summary>
    public static string SessionShard(string id, int shard) => $"{SessionPrefix}{id}/{shard}";

    public static string Of(Holding holding) => holding.Kind switch
    {
        HoldingKind.Lock => LockPrefix + holding.Name,
        HoldingKind.Election => ElectionPrefix + holding.Name,
        HoldingKind.Value => ValuePrefix + holding.Name,
        _ => throw new ArgumentOutOfRangeException(nameof(holding), holding.Kind, "not a kind of holding"),
    };

    public static string AtomicLong(string name) => AtomicLongPrefix + name;

    public static string Latch(string name) => LatchPrefix + name;

    /// <summary>The session id, lock or election name that <paramref name="key"/> was made from.</summary>
    public static string NameOf(string key) =>
        key.StartsWith(SessionPrefix, StringComparison.Ordinal) || key.StartsWith(LockPrefix, StringComparison.Ordinal) || key.StartsWith(ElectionPrefix, StringComparison.Ordinal)
            ? key[SessionPrefix.Length..]
            : throw new ArgumentException($"'{key}' is not the key of a session, lock or election register", nameof(key));
}
