using System.Net;
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
