using Coordination.Membership.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Coordination.Membership.Hosting;

public static class ProbeSiloBuilderExtensions
{
    /// <summary>
    /// Adds our SWIM/Lifeguard probes to a silo, tuned by a preset (Local, Lan, Ci) and then by the
    /// configuration section <c>Coordination:Probes</c>; validated at start. Orleans' own membership keeps
    /// running as the backstop; deaths our probes confirm reach it through TryKill.
    /// </summary>
    public static ISiloBuilder AddCoordinationProbes(this ISiloBuilder builder, string preset = "Local", Action<ProbeOptions>? configure = null)
    {
        var defaults = ProbeOptions.Preset(preset);
        var services = builder.Services;
        var options = services.AddOptions<ProbeOptions>().Configure(defaults.CopyTo).BindConfiguration(ProbeOptions.Section).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProbeOptions>, ProbeOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<OrleansProbeTransport>();
        services.AddSingleton<ProbeHost>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ProbeHost>());
        builder.AddGrainService<ProbeGrainService>();
        return builder;
    }
}
