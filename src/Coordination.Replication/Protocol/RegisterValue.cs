namespace Coordination.Replication.Protocol;

/// <summary>
/// What a register's value may tell the replication layer about itself. Values that do not implement it are
/// treated as issuing no tokens and as small.
/// </summary>
internal interface IRegisterValue
{
    /// <summary>
    /// The highest fencing token (or revision) this value has handed out. When the register is deleted, the
    /// partition's token floor keeps it, so a later use of the same name starts above it.
    /// </summary>
    long Floor { get; }

    /// <summary>About how many bytes the value takes on the wire: recovery copies are paged by it.</summary>
    int EstimatedBytes { get; }
}

/// <summary>Helpers over <see cref="IRegisterValue"/> for values of any type.</summary>
internal static class RegisterValues
{
    /// <summary>What an untyped value counts as when it says nothing of its size.</summary>
    public const int DefaultBytes = 256;

    public static long FloorOf(object? value) => value is IRegisterValue v ? v.Floor : 0;

    public static int BytesOf(object? value) => value is IRegisterValue v ? Math.Max(1, v.EstimatedBytes) : value is null ? 16 : DefaultBytes;
}
