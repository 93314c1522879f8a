using System.Net;
using Coordination.Client;
using Coordination.Silo.Configuration;
using Coordination.Silo.Logging;
using Coordination.Silo.Page;
using Coordination.Silo.SiloHost;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace Coordination.Silo.Launcher;

/// <summary>
/// The launcher's web front: the Orleans dashboard (hosted on an Orleans client, so it outlives any one
/// silo), the coordination page and its API, and the launcher's own view of its silo processes.
/// </summary>
internal static class DashboardHost
{
    /// <summary>
    /// Refuses to start, before any silo does, when the dashboard's port is taken: the cluster would come up and the
    /// launcher would then stop it again with a bind error's stack trace.
    /// </summary>
    public static void EnsurePortFree(SiloHostOptions host)
    {
        var probe = new System.Net.Sockets.TcpListener(IPAddress.Parse(host.HttpAddress), host.DashboardPort);
        try
        {
            probe.Start();
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            throw new SiloConfigurationException($"The dashboard's port {host.HttpAddress}:{host.DashboardPort} is in use by another process. Stop it, or choose another {SiloHostOptions.Section}:DashboardPort.");
        }
        finally
        {
            probe.Stop();
        }
    }

    public static async Task<WebApplication> StartAsync(LocalClusterLauncher launcher, IConfiguration configuration, CancellationToken cancellationToken)
    {
        var host = launcher.Host;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddConfiguration(configuration);
        builder.WebHost.UseUrls(host.HttpBinding(host.DashboardPort));
        builder.Logging.AddCoordinationConsole(configuration);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = host.ClusterId;
                o.ServiceId = host.ServiceId;
            });
            client.UseStaticClustering([.. launcher.Silos.Select(s => new IPEndPoint(IPAddress.Parse(host.ListenAddress), host.GatewayPort(s.Index)))]);
            if (host.LoadTls() is { } tls)
            {
                // The silos' own certificate: valid for client authentication too.
                client.UseClusterTls(tls);
            }

            client.AddDashboard();
        });

        builder.Services.AddHttpClient();
        var app = builder.Build();
        app.UseHttpCredentials(host);
        app.MapOrleansDashboard("/dashboard");
        app.MapCoordinationApi();
        app.MapGet("/api/cluster", () => Results.Json(new
        {
            gateways = launcher.Silos.Select(s => $"{host.ListenAddress}:{host.GatewayPort(s.Index)}"),
            dataDirectory = host.FullDataDirectory,
            silos = launcher.Silos.Select(s => new
            {
                index = s.Index,
                pid = s.Pid,
                restarts = s.Restarts,
                startedAt = s.StartedAt,
                siloPort = host.SiloPort(s.Index),
                gatewayPort = host.GatewayPort(s.Index),
                health = $"{host.HttpLocalUrl(host.HealthPort(s.Index))}/health/ready",
            }),
        }));
        app.MapOperatorApi(host, "launcher");
        app.MapLauncherSilos(launcher);
        app.MapCoordinationPage();
        await app.StartAsync(cancellationToken);
        return app;
    }
}
