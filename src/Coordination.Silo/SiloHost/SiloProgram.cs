using System.Net;
using Coordination.Grains.Hosting;
using Coordination.Membership.Hosting;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Silo.Configuration;
using Coordination.Silo.LocalClustering;
using Coordination.Silo.Logging;
using Coordination.Silo.Page;
using Coordination.Silo.RedisClustering;
using Orleans.Configuration;
using Orleans.Dashboard;
using StackExchange.Redis;

namespace Coordination.Silo.SiloHost;

/// <summary>One silo process: Orleans with the coordination service, the dashboard's silo side, and an HTTP endpoint for health and the coordination API.</summary>
internal static class SiloProgram
{
    /// <summary>How long a silo's graceful stop may take (Orleans leaving the cluster and writing itself Dead, then the web host).</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromMinutes(2);

    public static async Task<int> RunAsync(IConfiguration configuration, int index, CancellationToken cancellationToken)
    {
        var host = HostConfiguration.Bind(configuration);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddConfiguration(configuration);
        builder.WebHost.UseUrls(host.HttpBinding(host.HealthPort(index)));
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Logging.AddCoordinationConsole(configuration);

        builder.Services.AddSiloHostOptions(configuration);
        builder.Services.AddSiloHealthChecks();
        builder.Services.AddSingleton<MetricsSnapshot>();
        builder.Services.AddMetricsExport(host, index);
        if (host.FaultInjection)
        {
            builder.Services.AddFaultInjection();
        }

        // Orleans' activation bookkeeping (its idle-activation collector, and the keep-alive and deactivation times
        // of activations) must not see a step of the wall clock (see SteadyWallClock). Our own services keep the host's
        // time provider, which fault injection skews: the invariants must not care.
        var steady = new SteadyWallClock();
        builder.Services.AddKeyedSingleton<TimeProvider>(TimeProviderNames.ActivationManagement, steady);
        builder.Services.AddKeyedSingleton<TimeProvider>(TimeProviderNames.Grains, steady);

        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = host.ClusterId;
                o.ServiceId = host.ServiceId;
            });
            silo.Configure<SiloOptions>(o => o.SiloName = $"silo{index}");
            silo.ConfigureEndpoints(IPAddress.Parse(host.ListenAddress), host.SiloPort(index), host.GatewayPort(index), listenOnAnyHostAddress: false);
            silo.Configure<ClusterMembershipOptions>(host.ApplyMembershipPreset);
            switch (host.Clustering)
            {
                case ClusteringMode.Local:
                    var dir = host.FullDataDirectory;
                    Directory.CreateDirectory(dir);
                    silo.Services.AddSingleton<IMembershipTable>(sp => new FileMembershipTable(Path.Combine(dir, LocalFiles.Membership), sp.GetRequiredService<TimeProvider>()));
                    silo.Services.AddSingleton<IClusterMetadataStore>(sp => new FileClusterMetadataStore(Path.Combine(dir, LocalFiles.Metadata), sp.GetRequiredService<TimeProvider>()));
                    break;
                case ClusteringMode.Redis:
                    silo.UseRedisClustering(host.RedisConnectionString!);
                    silo.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(host.RedisConnectionString!));
                    silo.Services.AddSingleton<IClusterMetadataStore>(sp => new RedisClusterMetadataStore(sp.GetRequiredService<IConnectionMultiplexer>(), host.ServiceId));
                    break;
            }

            if (host.FaultInjection)
            {
                silo.ConfigureFaultInjection();
            }

            if (host.LoadTls() is { } tls)
            {
                silo.UseClusterTls(tls);
            }

            // A silo told it is dead exits at once with one line and its own code, not after Orleans' stack dumps and 2 s sleep.
            silo.Services.AddSingleton<IFatalErrorHandler, SiloDeath>();
            silo.AddCoordination(configureReplication: r => r.Unsafe = host.Unsafe);
            if (host.Probes != ProbePreset.Off)
            {
                silo.AddCoordinationProbes(host.Probes.ToString());
                silo.Services.AddSingleton<ISiloHealthView, ProbeHealthView>();
            }

            if (host.Dashboard)
            {
                silo.AddDashboard();
            }
        });
        if (host.FaultInjection)
        {
            builder.Services.AddSlowStop();
        }

        var app = builder.Build();
        app.Services.GetRequiredService<MetricsSnapshot>();
        app.UseHttpCredentials(host);
        app.MapHealth();
        app.MapSiloApi();
        app.MapCoordinationApi();
        app.MapOperatorApi(host, $"silo{index}");
        app.MapCoordinationPage();
        app.MapMetricsExport(host);
        if (host.FaultInjection)
        {
            app.MapFaults(host);
            app.Logger.LogWarning("Fault injection is on (test only){Unsafe}", host.Unsafe == UnsafeControl.None ? string.Empty : $"; BROKEN ON PURPOSE: {host.Unsafe}");
        }
        if (host.ParentProcessId is { } parent)
        {
            _ = StopWhenParentExitsAsync(app, parent, cancellationToken);
        }

        await app.RunAsync(cancellationToken);
        return 0;
    }

    private static async Task StopWhenParentExitsAsync(WebApplication app, int parent, CancellationToken cancellationToken)
    {
        if (await ParentProcess.ExitedAsync(parent, app.Services.GetRequiredService<TimeProvider>(), cancellationToken))
        {
            await app.StopAsync(CancellationToken.None);
        }
    }
}
