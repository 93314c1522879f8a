using Coordination.Grains.Faults;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Coordination.Grains.Hosting;

public static class CoordinationSiloBuilderExtensions
{
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
        builder.Services.AddSingleton<FailoverSweeper>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<FailoverSweeper>());
        return builder;
    }
}
