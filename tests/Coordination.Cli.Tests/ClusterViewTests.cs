using System.Text.Json;

namespace Coordination.Cli.Tests;

/// <summary>The listings and elections as an operator uses them: JSON that scripts can read, and Ctrl+C as the way out.</summary>
[Collection(CliClusterCollection.Name)]
public sealed class ClusterViewTests(CliCluster fixture)
{
    private const int SigInt = 2;

    [Fact]
    public async Task Members_status_and_sessions_show_the_cluster_and_a_holding_session_in_json()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        await using var holder = Coord.Start("coord lock", ["lock", name, "--ttl", "6s", .. fixture.Target, "--", "sh", "-c", "echo holding; exec sleep 300"]);
        await holder.WaitForLineAsync("holding", TimeSpan.FromSeconds(30));

        var members = await fixture.RunAsync("members", "--json");
        Assert.True(members.ExitCode == 0, members.ToString());
        Assert.Equal(3, members.Json.GetProperty("members").EnumerateArray().Count(m => m.GetProperty("status").GetString() == "Active"));

        var status = await fixture.RunAsync("status", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Equal(16, status.Json.GetProperty("partitions").GetInt32());
        Assert.True(status.Json.GetProperty("clusterEpoch").GetInt64() > 0, status.ToString());

        var sessions = await fixture.RunAsync("sessions", "--json");
        Assert.True(sessions.ExitCode == 0, sessions.ToString());
        Assert.Contains(sessions.Json.GetProperty("sessions").EnumerateArray(), s => s.GetProperty("status").GetString() == "alive" && s.GetProperty("holdings").GetInt32() >= 1);
        Assert.DoesNotContain("sessionId", sessions.Stdout, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Elect_leads_until_ctrl_c_and_listen_prints_the_leader_and_the_vacancy()
    {
        var name = $"cli-election-{Guid.NewGuid():N}";
        await using var leader = Coord.Start("coord elect", [.. fixture.Target, "elect", name, "first"]);
        await leader.WaitForLineAsync("elected with term", TimeSpan.FromSeconds(30));

        await using var listener = Coord.Start("coord elect --listen", [.. fixture.Target, "--json", "elect", name, "--listen"]);
        var current = await listener.WaitForLineAsync("^{.*\"kind\":\"elected\".*\"value\":\"first\".*}$", TimeSpan.FromSeconds(30));
        Assert.True(JsonDocument.Parse(current.Value).RootElement.GetProperty("leader").GetProperty("term").GetInt64() > 0, current.Value);

        leader.Signal(SigInt);
        var exit = await leader.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exit == 0, $"Ctrl+C should resign and exit 0, got {exit}; output:\n{leader.Tail()}");

        await listener.WaitForLineAsync("\"kind\":\"vacant\"", TimeSpan.FromSeconds(20));
        listener.Signal(SigInt);
        Assert.Equal(0, await listener.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ping_times_the_calls_it_was_asked_for(bool throughReplica)
    {
        string[] args = ["ping", "--count", "7", "--json", .. throughReplica ? new[] { "--replica" } : []];

        var run = await fixture.RunAsync(args);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(7, run.Json.GetProperty("calls").GetInt32());
        Assert.Equal(throughReplica, run.Json.GetProperty("throughReplica").GetBoolean());
        var (min, p50, p99, max) = (run.Json.GetProperty("minMs").GetDouble(), run.Json.GetProperty("p50Ms").GetDouble(), run.Json.GetProperty("p99Ms").GetDouble(), run.Json.GetProperty("maxMs").GetDouble());
        Assert.True(min > 0 && min <= p50 && p50 <= p99 && p99 <= max, run.ToString());
    }
}
