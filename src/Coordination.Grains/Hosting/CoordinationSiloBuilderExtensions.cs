using Coordination.Grains.Faults;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Coordination.Grains.Hosting;

public static class CoordinationSiloBuilderExtensions
{
    /// <summary>Most grain addresses a silo caches (Orleans' default is a million).</summary>
    private const int DirectoryCacheSize = 50_000;

    /// <summary>
    /// Adds the coordination service to a silo: replicated registers, sessions, locks and the admin grain.
    /// Every silo of the cluster needs it, plus one shared <see cref="Replication.Configuration.IClusterMetadataStore"/>.
    /// </summary>
    public static ISiloBuilder AddCoordination(this ISiloBuilder builder, Action<CoordinationOptions>? configure = null, Action<ReplicationOptions>? configureReplication = null)
    {
        builder.AddCoordinationReplication(configureReplication);
        var options = builder.Services.AddOptions<CoordinationOptions>().BindConfiguration(CoordinationOptions.Section).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CoordinationOptions>, CoordinationOptionsValidator>());
        builder.Services.AddGrainFaults();

        // Orleans caches the address of every grain a silo called, up to a million entries, and a deactivated
        // grain's entry stays until it is pushed out: with a lock per entity that is memory per name ever used,
        // not per name held. A smaller cache costs at most a directory lookup for a name not used lately.
        builder.Services.Configure<GrainDirectoryOptions>(o => o.CacheSize = Math.Min(o.CacheSize, DirectoryCacheSize));
        builder.Services.AddSingleton<Sessions.SessionDetaches>();
        builder.Services.AddSingleton<Sessions.UnreachableSessions>();
        builder.Services.AddSingleton<FailoverSweeper>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<FailoverSweeper>());
        builder.Services.AddSingleton<Lanes.LockLaneListener>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<Lanes.LockLaneListener>());
        return builder;
    }
}
