using Coordination.Client;

namespace Coordination.Tests;

public sealed class ClientOptionsValidationTests
{
    [Fact]
    public void The_defaults_are_valid() =>
        Assert.True(new CoordinationClientOptionsValidator().Validate(null, new CoordinationClientOptions()).Succeeded);

    [Theory]
    [InlineData(0, "MaxOpenSessions (0) must be between 1 and 1,000,000")]
    [InlineData(1_000_001, "MaxOpenSessions (1000001) must be between 1 and 1,000,000")]
    public void A_session_limit_out_of_range_is_refused_naming_the_setting(int limit, string message)
    {
        var result = new CoordinationClientOptionsValidator().Validate(null, new CoordinationClientOptions { MaxOpenSessions = limit });
        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Retries_that_could_outlast_what_the_cluster_remembers_of_a_change_are_refused()
    {
        var result = new CoordinationClientOptionsValidator().Validate(null, new CoordinationClientOptions { CleanupTimeout = TimeSpan.FromSeconds(25) });
        Assert.True(result.Failed);
        Assert.Contains("CleanupTimeout (00:00:25) + CallTimeout (00:00:05) + RetryDelay (00:00:00.1000000) must be below 30 s", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_negative_lock_delay_is_refused_naming_the_setting()
    {
        var result = new CoordinationClientOptionsValidator().Validate(null, new CoordinationClientOptions { LockDelay = TimeSpan.FromSeconds(-1) });
        Assert.True(result.Failed);
        Assert.Contains("Coordination:Client:LockDelay is -00:00:01: it must not be negative", result.FailureMessage, StringComparison.Ordinal);
    }
}
