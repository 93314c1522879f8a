using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary>Each kind of failure has its own exit code and a one-line message.</summary>
[Collection(CliClusterCollection.Name)]
public sealed class ErrorTests(CliCluster fixture)
{
    [Theory]
    [InlineData("lock", "bad\u0001name", "--", "true")]
    [InlineData("lock", "x", "--ttl", "banana", "--", "true")]
    [InlineData("lock", "x", "--ttl", "6s", "--grace", "5s", "--", "true")] // more than a third of the TTL: one late keepalive would stop the command
    [InlineData("lock", "x", "--grace", "0s", "--", "true")]
    [InlineData("locks", "--limit", "0")]
    [InlineData("revoke", "")]
    [InlineData("ping", "--count", "0")]
    public async Task Bad_input_exits_64_with_one_line(params string[] args)
    {
        var run = await fixture.RunAsync(args);
        Assert.True(run.ExitCode == 64, $"bad input should exit 64; {run}");
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("coord: bad-input: ", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_cluster_exits_69_quickly()
    {
        var port = Ports.FreeBlock(1);
        var run = await Coord.RunAsync(["locks", "--gateway", $"127.0.0.1:{port}", "--connect-timeout", "3s", "--json"], TimeSpan.FromSeconds(30));
        Assert.True(run.ExitCode == 69, $"an unreachable cluster should exit 69; {run}");
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(15), $"coord should give up within its connect timeout; {run}");
        Assert.Equal("unreachable", run.Json.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_lock_not_acquired_within_the_timeout_exits_124()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        await using var holder = Coord.Start("coord lock", ["lock", name, "--ttl", "6s", .. fixture.Target, "--", "sh", "-c", "echo holding; exec sleep 300"]);
        await holder.WaitForLineAsync("holding", TimeSpan.FromSeconds(30));

        var run = await fixture.RunAsync("lock", name, "--timeout", "1s", "--", "true");
        Assert.True(run.ExitCode == 124, $"a lock held elsewhere should time out with 124; {run}");
    }
}
