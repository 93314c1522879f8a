using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary>One local cluster of real silo processes shared by every CLI test (starting one takes most of the run).</summary>
public sealed class CliCluster : IAsyncLifetime
{
    public LocalClusterProcess Cluster { get; private set; } = null!;

    /// <summary>How coord reaches this cluster: its gateways and cluster id (options of the root command, so they go before the subcommand's "--").</summary>
    public string[] Target => [.. Cluster.GatewayPorts.SelectMany(p => new[] { "--gateway", $"127.0.0.1:{p}" }), "--cluster-id", Cluster.ClusterId];

    public async Task InitializeAsync()
    {
        Cluster = await LocalClusterProcess.StartAsync();
        await Cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(90));
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    public Task<CoordResult> RunAsync(params string[] args) => Coord.RunAsync([.. Target, .. args]);
}

[CollectionDefinition(Name)]
public sealed class CliClusterCollection : ICollectionFixture<CliCluster>
{
    public const string Name = "coord against one local cluster";
}
