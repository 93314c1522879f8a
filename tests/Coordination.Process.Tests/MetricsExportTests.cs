using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Coordination.TestKit;
using Xunit.Abstractions;

namespace Coordination.Process.Tests;

/// <summary>With <c>Coordination:Host:Metrics:Prometheus</c> on, every silo serves /metrics (behind the HTTP token) and the grant counter moves when a client takes a lock.</summary>
public sealed class MetricsExportTests(ITestOutputHelper output)
{
    private const string Token = "metrics-test-token-0123456789";

    [Fact]
    public async Task The_Prometheus_endpoint_needs_the_token_and_its_grant_counter_moves_when_a_lock_is_taken()
    {
        await using var cluster = await LocalClusterProcess.StartAsync("--Coordination:Host:Metrics:Prometheus=true", $"--Coordination:Host:HttpToken={Token}");
        using var http = new HttpClient();
        var refused = await http.GetAsync(Scrape(cluster, 0));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        var before = await GrantsAsync(http, cluster);
        await using var client = await TestClusterClient.ConnectAsync(cluster);
        var handle = await client.Coordination.CreateLock($"metrics/{Guid.NewGuid():N}").AcquireAsync(TimeSpan.FromSeconds(30));
        await handle.DisposeAsync();

        var after = before;
        await Eventually.Async(async () => (after = await GrantsAsync(http, cluster)) > before, TimeSpan.FromSeconds(30), $"coordination_lock_grants_total summed over the silos to rise above {before}");
        output.WriteLine($"grants scraped: {before} before the lock, {after} after");

        var pages = await Task.WhenAll(Enumerable.Range(0, cluster.Silos).Select(i => http.GetStringAsync(Scrape(cluster, i))));
        Assert.Contains(pages, p => p.Contains("coordination_register_round_duration", StringComparison.Ordinal));
        await Eventually.Async(
            async () => (await http.GetStringAsync(Scrape(cluster, 0))).Contains("coordination_probes_round_trip", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30),
            "silo0 to export its probe round trips (the Coordination.Membership meter)");
    }

    private static Uri Scrape(LocalClusterProcess cluster, int index) => new($"http://127.0.0.1:{cluster.HealthPortBase + index}/metrics");

    /// <summary>The grant counter summed over every silo (the lock's grain lives on one of them); a silo that granted nothing yet has no series.</summary>
    private static async Task<double> GrantsAsync(HttpClient http, LocalClusterProcess cluster)
    {
        var pages = await Task.WhenAll(Enumerable.Range(0, cluster.Silos).Select(i => http.GetStringAsync(Scrape(cluster, i))));
        return pages.SelectMany(p => p.Split('\n')).Where(l => l.StartsWith("coordination_lock_grants_total", StringComparison.Ordinal)).Sum(Value);
    }

    // A sample line: name{labels} value [timestamp].
    private static double Value(string line)
    {
        var labelsEnd = line.LastIndexOf('}');
        var rest = labelsEnd >= 0 ? line[(labelsEnd + 1)..] : line[line.IndexOf(' ', StringComparison.Ordinal)..];
        return double.Parse(rest.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
    }
}
