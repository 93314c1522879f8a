using Coordination.Grains.Sessions;

namespace Coordination.Grains.Hosting;

/// <summary>
/// The register key of each session, lock, election, semaphore and reader-writer lock: a two-character kind
/// prefix, then its id or name.
/// A key's hash picks its partition, so these strings must never change.
/// </summary>
internal static class RegisterKeys
{
    private const string SessionPrefix = "s/";
    private const string LockPrefix = "l/";
    private const string ElectionPrefix = "e/";
    private const string SemaphorePrefix = "m/";
    private const string ReaderWriterPrefix = "w/";
    private const string ValuePrefix = "v/";
    private const string AtomicLongPrefix = "n/";
    private const string LatchPrefix = "c/";

    public static string Session(string id) => SessionPrefix + id;

    /// <summary>The register of shard <paramref name="shard"/> of a session's holdings (session ids never contain '/').</summary>
    public static string SessionShard(string id, int shard) => $"{SessionPrefix}{id}/{shard}";

    public static string Lock(string name) => LockPrefix + name;

    public static string Election(string name) => ElectionPrefix + name;

    public static string Semaphore(string name) => SemaphorePrefix + name;

    public static string ReaderWriterLock(string name) => ReaderWriterPrefix + name;

    public static string Of(Holding holding) => holding.Kind switch
    {
        HoldingKind.Lock => LockPrefix + holding.Name,
        HoldingKind.Election => ElectionPrefix + holding.Name,
        HoldingKind.Semaphore => SemaphorePrefix + holding.Name,
        HoldingKind.ReaderWriterLock => ReaderWriterPrefix + holding.Name,
        HoldingKind.Value => ValuePrefix + holding.Name,
        _ => throw new ArgumentOutOfRangeException(nameof(holding), holding.Kind, "not a kind of holding"),
    };

    public static string Value(string name) => ValuePrefix + name;

    public static string AtomicLong(string name) => AtomicLongPrefix + name;

    public static string Latch(string name) => LatchPrefix + name;

    /// <summary>The session id, or the lock, election, semaphore, reader-writer lock, value, counter or latch name, that <paramref name="key"/> was made from.</summary>
    public static string NameOf(string key) =>
        key.StartsWith(SessionPrefix, StringComparison.Ordinal) || KindOf(key) is not null
            || key.StartsWith(AtomicLongPrefix, StringComparison.Ordinal) || key.StartsWith(LatchPrefix, StringComparison.Ordinal)
            ? key[SessionPrefix.Length..]
            : throw new ArgumentException($"'{key}' is not the key of a session, lock, election, semaphore, reader-writer lock, value, counter or latch register", nameof(key));

    /// <summary>The holding whose register <paramref name="key"/> is, or null for a session's (or no) register.</summary>
    public static Holding? HoldingOf(string key) => KindOf(key) is { } kind ? new Holding(kind, key[LockPrefix.Length..]) : null;

    private static HoldingKind? KindOf(string key) => key.Length < LockPrefix.Length ? null : key[..LockPrefix.Length] switch
    {
        LockPrefix => HoldingKind.Lock,
        ElectionPrefix => HoldingKind.Election,
        SemaphorePrefix => HoldingKind.Semaphore,
        ReaderWriterPrefix => HoldingKind.ReaderWriterLock,
        ValuePrefix => HoldingKind.Value,
        _ => null,
    };
}
