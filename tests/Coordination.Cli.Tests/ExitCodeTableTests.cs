namespace Coordination.Cli.Tests;

/// <summary>Case tables for coord's pure parts: which exit code each typed error gets, and the durations it reads.</summary>
public sealed class ExitCodeTableTests
{
    public static TheoryData<Exception, int, string> Errors => new()
    {
        { new QuorumUnavailableException("l/x", 1, 2, "test"), ExitCodes.QuorumUnavailable, "quorum-unavailable" },
        { new ReplicasLostException("l/x", 3, "test"), ExitCodes.QuorumUnavailable, "quorum-unavailable" },
        { new ClusterUnavailableException("acquire", TimeSpan.FromSeconds(5)), ExitCodes.Unreachable, "unreachable" },
        { new SiloUnavailableException("gone"), ExitCodes.Unreachable, "unreachable" },
        { new InvalidNameException("name", "empty"), ExitCodes.BadInput, "bad-input" },
        { new InvalidTtlException("ttl", "too small"), ExitCodes.BadInput, "bad-input" },
        { new TimeoutException("late"), ExitCodes.Unreachable, "unreachable" }, // a call Orleans timed out; only coord lock --timeout is 124
        { new SessionExpiredException("abc", "test"), ExitCodes.Lost, "lost" },
        { new LockNotHeldException("x", "test"), ExitCodes.Failed, "LockNotHeld" },
        { new AggregateException(new QuorumUnavailableException("l/x", 1, 2, "test")), ExitCodes.QuorumUnavailable, "quorum-unavailable" },
        { new InvalidOperationException("bug"), ExitCodes.Failed, "error" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Each_typed_error_has_its_exit_code(Exception error, int exitCode, string kind)
    {
        var failure = CliException.From(error);
        Assert.Equal((exitCode, kind), (failure.ExitCode, failure.Kind));
        Assert.DoesNotContain('\n', failure.Message);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("15s", 15_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("00:00:15", 15_000)]
    [InlineData("0", 0)]
    public void Durations_read_as_typed(string text, double milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value), text);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("banana")]
    [InlineData("-5s")]
    [InlineData("s")]
    [InlineData("-00:00:01")]
    [InlineData("1e400s")]
    public void Bad_durations_are_refused(string text) => Assert.False(Durations.TryParse(text, out _), text);

    [Theory]
    [InlineData("orders/42", "'orders/42'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("", "''")]
    public void Names_in_suggested_commands_are_quoted_for_the_shell(string name, string quoted) =>
        Assert.Equal(quoted, Commands.ListCommands.Quote(name));
}
