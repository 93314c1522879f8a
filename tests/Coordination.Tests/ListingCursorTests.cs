using Coordination.Grains.Admin;

namespace Coordination.Tests;

/// <summary>A search by name prefix resumes from a whole-name cursor: cut to the rest after the prefix, from the start, or over.</summary>
public sealed class ListingCursorTests
{
    [Theory]
    [InlineData("jobs/", null, "")] // the first page
    [InlineData("jobs/", "jobs/17", "17")] // within the prefix: the rest
    [InlineData("jobs/", "jobs/", ListingCursor.AfterTheWholeName)] // past the name that is the prefix itself
    [InlineData("jobs/", "ab", "")] // before every name with the prefix: from the start
    [InlineData("jobs/", "jobs", "")] // "jobs" < "jobs/"
    [InlineData("jobs/", "jobt", null)] // past every name with the prefix: over
    [InlineData("jobs/", "zz", null)]
    [InlineData("", null, "")] // no prefix: the listing of every name
    [InlineData("", "orders/3", "orders/3")]
    public void The_cursor_is_cut_to_the_rest_after_the_prefix(string prefix, string? after, string? expected) =>
        Assert.Equal(expected, ListingCursor.Within(prefix, after));

    [Fact]
    public void The_mark_past_a_whole_name_sorts_before_every_longer_valid_name()
    {
        Assert.True(string.CompareOrdinal(string.Empty, ListingCursor.AfterTheWholeName) < 0);
        Assert.True(string.CompareOrdinal(ListingCursor.AfterTheWholeName, " ") < 0, "a rest of one space (the lowest character a name may hold) sorts after the mark");
        Assert.NotNull(Names.Check(ListingCursor.AfterTheWholeName));
    }
}
