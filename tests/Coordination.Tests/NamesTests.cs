namespace Coordination.Tests;

public sealed class NamesTests
{
    public static TheoryData<string?, string> Invalid => new()
    {
        { null, "required" },
        { "", "empty or whitespace" },
        { "   ", "empty or whitespace" },
        { "\t\n", "empty or whitespace" },
        { "orders/\u000742", "control characters (U+0007 at index 7)" },
        { "line\nbreak", "control characters" },
        { "del\u007F", "control characters" },
        { new string('x', 513), "at most 512 UTF-8 bytes (got 513)" },
        { new string('é', 257), "at most 512 UTF-8 bytes (got 514)" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_names_get_a_typed_error_that_names_the_rule(string? name, string rule)
    {
        var error = Assert.Throws<InvalidNameException>(() => Names.Validate(name, "lockName"));
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
        Assert.Equal("lockName", error.Argument);
        Assert.Contains("Nothing was changed", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("orders/42")]
    [InlineData("a")]
    [InlineData("ünïcødé/ключ/鍵/🔒")]
    [InlineData(" leading and trailing spaces are kept ")]
    public void Valid_names_pass_unchanged(string name) => Assert.Same(name, Names.Validate(name));

    [Fact]
    public void A_lone_surrogate_is_not_a_valid_name()
    {
        // Not in the theory: test-case serialization would replace the lone surrogate before the test runs.
        var error = Assert.Throws<InvalidNameException>(() => Names.Validate("bad\uD800x"));
        Assert.Contains("lone surrogate U+D800 at index 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exactly_512_bytes_is_allowed() => Names.Validate(new string('x', 512));

    [Fact]
    public void Session_ids_are_random_and_tags_are_stable_and_do_not_reveal_the_id()
    {
        var a = SessionIds.NewId();
        var b = SessionIds.NewId();
        Assert.NotEqual(a, b);
        Assert.Equal(22, a.Length);
        Assert.Equal(SessionIds.Tag(a), SessionIds.Tag(a));
        Assert.DoesNotContain(SessionIds.Tag(a), a, StringComparison.Ordinal);
        Assert.Equal(12, SessionIds.Tag(a).Length);
    }
}
