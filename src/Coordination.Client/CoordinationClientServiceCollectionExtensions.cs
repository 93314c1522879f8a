using Coordination.Client;
using Medallion.Threading;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// As the host starts stopping, before any hosted service (the Orleans client included) stops: stops the
/// leader-only services (each resigns once its service has stopped), then closes the shared session. A host
/// disposed without being stopped disposes the client instead, which closes the session too (see <see cref="ShutdownCodecs"/>).
/// </summary>
internal sealed class CoordinationClientLifetime(CoordinationClient client, LeaderServices leaders, IServiceProvider services) : Microsoft.Extensions.Hosting.IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        ShutdownCodecs.Prepare(services);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await leaders.StopAllAsync(cancellationToken);
        await client.CloseAsync();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class CoordinationClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="ICoordinationClient"/> and DistributedLock.Core's <see cref="IDistributedLockProvider"/>,
    /// <see cref="IDistributedSemaphoreProvider"/>, <see cref="IDistributedReaderWriterLockProvider"/> and
    /// <see cref="IDistributedUpgradeableReaderWriterLockProvider"/>,
    /// with options from <c>Coordination:Client</c> validated at start. Needs an Orleans
    /// <see cref="IGrainFactory"/> (<c>UseOrleansClient</c>, or a co-hosted silo).
    /// </summary>
    public static IServiceCollection AddCoordinationClient(this IServiceCollection services, Action<CoordinationClientOptions>? configure = null)
    {
        var options = services.AddOptions<CoordinationClientOptions>().BindConfiguration(CoordinationClientOptions.Section).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CoordinationClientOptions>, CoordinationClientOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ClusterChangeSignal(sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton<GatewayCountChangedHandler>(sp => sp.GetRequiredService<ClusterChangeSignal>().OnGatewayCountChanged);
        services.TryAddSingleton(sp => new CoordinationClient(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<IOptions<CoordinationClientOptions>>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<ILogger<CoordinationClient>>(),
            sp.GetRequiredService<ClusterChangeSignal>(),
            ClientFaults.None,
            ClientMetrics.For(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()),
            LaneFor(sp)));
        services.TryAddSingleton<LeaderServices>();
        services.TryAddSingleton<ICoordinationClient>(sp => sp.GetRequiredService<CoordinationClient>());
        services.TryAddSingleton<IDistributedLockProvider>(sp => sp.GetRequiredService<CoordinationClient>());
        services.TryAddSingleton<IDistributedSemaphoreProvider>(sp => sp.GetRequiredService<CoordinationClient>());
        services.TryAddSingleton<IDistributedReaderWriterLockProvider>(sp => sp.GetRequiredService<CoordinationClient>());
        services.TryAddSingleton<IDistributedUpgradeableReaderWriterLockProvider>(sp => sp.GetRequiredService<CoordinationClient>());

        services.AddHostedService<CoordinationClientLifetime>();

        // One gateway for all of this process's grain calls, unless the application chose its own bucket count.
        // Orleans spreads a client's grains over 8,192 buckets, each sent through some gateway; our grains are
        // placed on the silo whose gateway first called them (PreferLocalPlacement), so with one bucket a
        // process's session and the locks it uses meet on one silo: the session's attach is a local call and the
        // replica requests of those locks leave in shared batches. Measured with the benchmark's profile rounds
        // (Release, two cores, one client process, this against 8,192): seq 1,155 against 992 pairs/s, fresh names
        // 424 against 354, par16 5,093 against 3,164 (silo messages per pair 1.0 against 3.9), contended8 1,427
        // against 1,381. Losing that gateway moves the bucket to another live one, as for any grain.
        services.AddOptions<Orleans.Configuration.ClientMessagingOptions>().PostConfigure(o =>
        {
            if (o.ClientSenderBuckets == Orleans.Configuration.ClientMessagingOptions.DEFAULT_CLIENT_SENDER_BUCKETS)
            {
                o.ClientSenderBuckets = 1;
            }
        });
        return services;
    }

    /// <summary>The client lane, unless it is switched off, this process is a silo (whose grain calls are local) or has no Orleans client.</summary>
    private static Coordination.Client.Lanes.LockLane? LaneFor(IServiceProvider sp)
    {
        var options = sp.GetRequiredService<IOptions<CoordinationClientOptions>>().Value;
        if (!options.ClientLane || sp.GetService<Orleans.Runtime.ILocalSiloDetails>() is not null || sp.GetService<Orleans.Serialization.Serializer>() is not { } serializer)
        {
            // Off, in a silo, or over a grain factory from elsewhere (no Orleans client in this container).
            return null;
        }

        var time = sp.GetService<TimeProvider>() ?? TimeProvider.System;
        var logger = (ILogger?)sp.GetService<ILogger<CoordinationClient>>() ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var tls = sp.GetService<Coordination.ClusterTls>();
        if (tls is null && sp.GetServices<IConfigureOptions<Orleans.Configuration.ClientConnectionOptions>>().Any())
        {
            // Orleans' own UseTls (or other connection middleware) without UseClusterTls: the gateway connection is
            // secured by means the lane does not know, and a lane in the clear would bypass them.
            Coordination.Client.Lanes.LockLane.LogConnectionsConfigured(logger);
            return null;
        }

        return new Coordination.Client.Lanes.LockLane(sp.GetRequiredService<IGrainFactory>(), serializer, tls, sp.GetRequiredService<ClusterChangeSignal>(), options, time, logger);
    }

    /// <summary>As the overload with options, with the defaults (the overload of earlier versions, kept for their binaries).</summary>
    public static IServiceCollection AddLeaderService<TService>(this IServiceCollection services, string election, string? value)
        where TService : class, Microsoft.Extensions.Hosting.IHostedService =>
        services.AddLeaderService<TService>(election, value, null);

    /// <summary>
    /// Runs <typeparamref name="TService"/> (any hosted service, e.g. a <see cref="Microsoft.Extensions.Hosting.BackgroundService"/>)
    /// only while this instance leads <paramref name="election"/>: started when elected, stopped when
    /// leadership is lost. Its constructor may take the <see cref="CoordinationLeadership"/>. Needs <see cref="AddCoordinationClient"/>.
    /// <paramref name="configure"/> says what a term that ended on its own leads to (<see cref="LeaderServiceOptions"/>):
    /// campaign again, stop leading, or stop the host. An option out of range is <see cref="ArgumentOutOfRangeException"/>
    /// here, at registration.
    /// </summary>
    public static IServiceCollection AddLeaderService<TService>(this IServiceCollection services, string election, string? value = null, Action<LeaderServiceOptions>? configure = null)
        where TService : class, Microsoft.Extensions.Hosting.IHostedService
    {
        Coordination.Names.Validate(election, nameof(election));
        var options = new LeaderServiceOptions();
        configure?.Invoke(options);
        options.Validated();

        // Not AddHostedService: it drops a second registration of the same type (the same service for another election).
        services.TryAddSingleton<LeaderServices>();
        return services.AddSingleton<Microsoft.Extensions.Hosting.IHostedService>(sp => ActivatorUtilities.CreateInstance<LeaderOnlyHostedService<TService>>(sp, election, value ?? Environment.MachineName, sp.GetService<TimeProvider>() ?? TimeProvider.System, options));
    }

    /// <summary>
    /// Points an Orleans client at the local cluster started by <c>dotnet run --project src/Coordination.Silo</c>
    /// (silo i: gateway on 127.0.0.1:<paramref name="gatewayPortBase"/>+i, health endpoint on
    /// <paramref name="healthPortBase"/>+i). The gateway list is refreshed every second from the silos
    /// themselves, so a dead silo's gateway is left within about a second of being found out, and one whose silo
    /// stops answering after two polls in a row without an answer (one slow answer keeps the connection).
    /// </summary>
    public static IClientBuilder UseCoordinationLocalCluster(this IClientBuilder builder, int gatewayPortBase = 30000, int healthPortBase = 8091, int silos = 3, string clusterId = "coordination-local")
    {
        var endpoints = Enumerable.Range(0, silos).Select(i => (gatewayPortBase + i, healthPortBase + i)).ToList();
        builder.Configure<Orleans.Configuration.ClusterOptions>(o =>
        {
            o.ClusterId = clusterId;
            o.ServiceId = "coordination";
        });
        builder.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
        builder.Services.AddSingleton<Orleans.Messaging.IGatewayListProvider>(sp => new LocalClusterGatewayListProvider(endpoints, sp.GetService<Microsoft.Extensions.Logging.ILogger<LocalClusterGatewayListProvider>>()));
        return builder;
    }
}
