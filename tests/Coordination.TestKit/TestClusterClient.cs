using System.Net;
using Coordination.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Coordination.TestKit;

/// <summary>An application's client to a cluster of processes: an Orleans client plus the Coordination client, configured as the README shows.</summary>
public sealed class TestClusterClient : IAsyncDisposable
{
    private readonly IHost _host;

    private TestClusterClient(IHost host)
    {
        _host = host;
        Coordination = host.Services.GetRequiredService<ICoordinationClient>();
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    public ICoordinationClient Coordination { get; }

    public IClusterClient Grains { get; }

    /// <summary>The client's last log lines (its gateway list's changes, Orleans' warnings), oldest first.</summary>
    public IReadOnlyList<string> RecentLog(int count)
    {
        var records = _host.Services.GetFakeLogCollector().GetSnapshot();
        return [.. records.Skip(Math.Max(0, records.Count - count)).Select(r => $"{r.Timestamp:HH:mm:ss.fff} {r.Level} {r.Category}: {r.Message}{(r.Exception is null ? string.Empty : $" ({r.Exception.GetType().Name}: {r.Exception.Message})")}")];
    }

    /// <summary>A client of the local cluster as the README shows it (the gateway list refreshed from the silos' health endpoints); with <paramref name="tls"/>, its gateway connections use it.</summary>
    public static Task<TestClusterClient> ConnectAsync(LocalClusterProcess cluster, double ttlSeconds = LocalClusterProcess.TtlSeconds, ClusterTls? tls = null) =>
        ConnectAsync(
            client =>
            {
                client.UseCoordinationLocalCluster(cluster.GatewayPortBase, cluster.HealthPortBase, cluster.Silos, cluster.ClusterId);
                if (tls is not null)
                {
                    client.UseClusterTls(tls);
                }
            },
            ttlSeconds);

    /// <summary>A client with a fixed gateway list (Orleans' static clustering).</summary>
    public static Task<TestClusterClient> ConnectAsync(string clusterId, int[] gatewayPorts, double ttlSeconds = LocalClusterProcess.TtlSeconds) =>
        ConnectAsync(client => client
            .Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = "coordination";
            })
            .UseStaticClustering([.. gatewayPorts.Select(p => new IPEndPoint(IPAddress.Loopback, p))]), ttlSeconds);

    private static async Task<TestClusterClient> ConnectAsync(Action<IClientBuilder> configure, double ttlSeconds)
    {
        var builder = Host.CreateApplicationBuilder();
        // Kept in memory for a failure's post-mortem (RecentLog): ours from information, Orleans' from warning.
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFakeLogging();
        builder.UseOrleansClient(configure);
        builder.Services.AddCoordinationClient(o =>
        {
            o.SessionTtl = TimeSpan.FromSeconds(ttlSeconds);
            o.MaxPark = TimeSpan.FromSeconds(2);
            o.CallGrace = TimeSpan.FromSeconds(1);
            o.CallTimeout = TimeSpan.FromSeconds(3);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new TestClusterClient(host);
    }

    public async ValueTask DisposeAsync()
    {
        if (Coordination is IAsyncDisposable d)
        {
            await d.DisposeAsync();
        }

        await _host.StopAsync();
        _host.Dispose();
    }
}
