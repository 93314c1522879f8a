namespace Coordination.Grains.Admin;

/// <summary>Where a search by name prefix resumes: replicas page by the rest of each key after the prefix, while cursors are whole names.</summary>
internal static class ListingCursor
{
    /// <summary>
    /// Past the name that is the prefix itself (an empty rest, which an empty cursor includes) and before every longer
    /// one: names have no control characters (<see cref="Names.Check"/>), so no rest starts with U+0000.
    /// </summary>
    public const string AfterTheWholeName = "\u0000";

    /// <summary>
    /// The cursor as the rest after <paramref name="prefix"/>: empty from the first name with the prefix, or null when
    /// <paramref name="after"/> is past every name that has it (the search is over).
    /// </summary>
    public static string? Within(string prefix, string? after) =>
        after is null ? string.Empty
        : after == prefix ? AfterTheWholeName
        : after.StartsWith(prefix, StringComparison.Ordinal) ? after[prefix.Length..]
        : string.CompareOrdinal(after, prefix) < 0 ? string.Empty
        : null;
}
