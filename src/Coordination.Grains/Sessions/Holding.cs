using Coordination.Grains.Hosting;

namespace Coordination.Grains.Sessions;

/// <summary>What kind of grain a session holds or waits at.</summary>
internal enum HoldingKind
{
    Lock = 0,
    Election = 1,
    Semaphore = 2,
    ReaderWriterLock = 3,

    /// <summary>An ephemeral named value, bound to the session that set it (far from the lease kinds' numbers).</summary>
    Value = 20,
}

/// <summary>
/// A lock, election, semaphore, reader-writer lock or ephemeral value where a session holds a grant or waits. The session records it before any request
/// of it is committed there, and tells it when the session ends (see <see cref="Leases.SessionAttachments{TQueue}"/>).
/// Ordered by kind, then by name (ordinal), so a set of them needs no comparer on the wire.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.Holding")]
internal sealed record Holding(HoldingKind Kind, string Name) : IComparable<Holding>
{
    public static Holding Lock(string name) => new(HoldingKind.Lock, name);

    public static Holding Election(string name) => new(HoldingKind.Election, name);

    public static Holding Semaphore(string name) => new(HoldingKind.Semaphore, name);

    public static Holding ReaderWriterLock(string name) => new(HoldingKind.ReaderWriterLock, name);

    /// <summary>The key of the lock's or election's register.</summary>
    public string RegisterKey => RegisterKeys.Of(this);

    public int CompareTo(Holding? other) =>
        other is null ? 1 : Kind != other.Kind ? Kind.CompareTo(other.Kind) : string.CompareOrdinal(Name, other.Name);

    public override string ToString() => $"{Kind} '{Name}'";
}
