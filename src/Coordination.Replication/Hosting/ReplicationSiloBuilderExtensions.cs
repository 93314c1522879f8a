using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.Replication.Hosting;

public static class ReplicationSiloBuilderExtensions
{
    /// <summary>
    /// Adds the replica service, the configuration planner and register proposers to a silo. Register an
    /// <see cref="IClusterMetadataStore"/> as well (shared by all silos of the cluster).
    /// </summary>
    public static ISiloBuilder AddCoordinationReplication(this ISiloBuilder builder, Action<ReplicationOptions>? configure = null)
    {
        var services = builder.Services;
        var optionsBuilder = services.AddOptions<ReplicationOptions>().BindConfiguration(ReplicationOptions.Section).ValidateOnStart();
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ReplicationOptions>, ReplicationOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(new ReplicaNodeOptions());
        services.AddSingleton<SiloLiveness>();
        services.AddSingleton(sp => new Lazy<ReplicaNode>(sp.GetRequiredService<ReplicaNode>));
        services.AddSingleton<OrleansReplicaTransport>();
        services.AddSingleton<DirectReplicaListener>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<DirectReplicaListener>());
        services.AddSingleton<IReplicaTransport>(sp => sp.GetRequiredService<OrleansReplicaTransport>());
        services.AddSingleton(sp => new ReplicaNode(
            sp.GetRequiredService<SiloLiveness>().Self,
            sp.GetRequiredService<IReplicaTransport>(),
            sp.GetRequiredService<IClusterMetadataStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ReplicaNodeOptions>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<ReplicaNode>()));
        services.AddSingleton<BallotHints>();
        services.AddSingleton(sp => new TombstoneCollector(
            sp.GetRequiredService<ReplicaNode>(),
            sp.GetRequiredService<IReplicaTransport>(),
            sp.GetRequiredService<BallotHints>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<ReplicationOptions>>().Value.RoundTimeout));
        services.AddSingleton<MetadataDirectory>();
        services.AddSingleton<IPartitionDirectory>(sp => sp.GetRequiredService<MetadataDirectory>());
        services.AddSingleton(sp => new RegisterFactory(
            sp.GetRequiredService<IPartitionDirectory>(),
            sp.GetRequiredService<IReplicaTransport>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<ReplicationOptions>>(),
            sp.GetService<ProposerOptions>(),
            sp.GetRequiredService<BallotHints>()));
        services.AddSingleton<ReplicationLifecycle>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ReplicationLifecycle>());
        builder.AddGrainService<ReplicaGrainService>();
        return builder;
    }
}
