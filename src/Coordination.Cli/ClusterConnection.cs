using System.Net;
using Coordination.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Coordination.Cli;

/// <summary>An Orleans client and the Coordination client on it, connected to the target cluster, for one command.</summary>
internal sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host)
    {
        _host = host;
        Grains = host.Services.GetRequiredService<IClusterClient>();
        Coordination = host.Services.GetRequiredService<ICoordinationClient>();
    }

    public IClusterClient Grains { get; }

    public ICoordinationClient Coordination { get; }

    /// <summary>Connects, or throws <see cref="CliException"/> (unreachable) when no gateway answers within the target's connect timeout.</summary>
    public static async Task<ClusterConnection> ConnectAsync(ClusterTarget target, TimeSpan? sessionTtl, CancellationToken cancellationToken)
    {
        var gateways = await ResolveAsync(target.Gateways, cancellationToken);

        // An empty builder: no appsettings.json or environment of the working directory leaks into the client.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            if (target.Redis is not null)
            {
                client.UseRedisClustering(target.Redis);
            }
            else if (gateways.Length > 0)
            {
                client.UseStaticClustering(gateways);
            }
            else
            {
                client.UseCoordinationLocalCluster();
            }

            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = target.ClusterId;
                o.ServiceId = "coordination";
            });
            if (target.Tls is { } tls)
            {
                client.UseClusterTls(tls);
            }
        });
        builder.Services.AddCoordinationClient(o =>
        {
            if (sessionTtl is { } ttl)
            {
                o.SessionTtl = ttl;
            }

            o.Owner = $"coord on {Environment.MachineName} pid {Environment.ProcessId}";
        });

        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(target.ConnectTimeout);
        try
        {
            await host.StartAsync(timeout.Token);
            return new ClusterConnection(host);
        }
        catch (Exception ex) when (ex is not OptionsValidationException)
        {
            host.Dispose();
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw CliException.Unreachable($"Cannot reach the cluster '{target.ClusterId}' at {Describe(target)}: {(ex is OperationCanceledException ? $"no gateway answered within {target.ConnectTimeout.TotalSeconds:0.#} s" : ex.Message)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _host.StopAsync(stop.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or OrleansException)
        {
            // Leaving anyway: sessions left open end with their lease.
        }

        _host.Dispose();
    }

    private static string Describe(ClusterTarget target) =>
        target.Redis is not null ? "the Redis membership" : target.Gateways.Length > 0 ? string.Join(", ", target.Gateways.Select(g => g.ToString())) : "the local cluster (gateways 127.0.0.1:30000-30002)";

    private static async Task<IPEndPoint[]> ResolveAsync(EndPoint[] gateways, CancellationToken cancellationToken)
    {
        var resolved = new List<IPEndPoint>();
        foreach (var gateway in gateways)
        {
            if (gateway is IPEndPoint ip)
            {
                resolved.Add(ip);
                continue;
            }

            var dns = (DnsEndPoint)gateway;
            try
            {
                var addresses = await Dns.GetHostAddressesAsync(dns.Host, cancellationToken);
                resolved.Add(new IPEndPoint(addresses.First(), dns.Port));
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                throw CliException.Unreachable($"Cannot resolve gateway host '{dns.Host}': {ex.Message}");
            }
        }

        return [.. resolved];
    }
}
