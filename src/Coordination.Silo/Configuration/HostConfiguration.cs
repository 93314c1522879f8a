using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Coordination.Silo.Configuration;

/// <summary>Loads silo-config files and overrides, and validates the host settings before anything starts.</summary>
internal static class HostConfiguration
{
    /// <summary>The settings file used when none is given: the local three-process cluster.</summary>
    public const string DefaultConfig = "local";

    /// <summary>
    /// Layers: the chosen silo-config file (a name under silo-config/ next to the executable, or a path),
    /// then COORDINATION_-prefixed environment variables, then command-line overrides (Key=Value).
    /// </summary>
    public static IConfiguration Build(string? config, IEnumerable<string> overrides)
    {
        var path = ResolveConfigPath(config ?? DefaultConfig);
        return new ConfigurationBuilder()
            .AddJsonFile(path, optional: false)
            .AddEnvironmentVariables("COORDINATION_")
            .AddCommandLine([.. overrides])
            .Build();
    }

    public static string ResolveConfigPath(string config)
    {
        if (File.Exists(config))
        {
            return Path.GetFullPath(config);
        }

        var bundled = Path.Combine(AppContext.BaseDirectory, "silo-config", config.EndsWith(".json", StringComparison.Ordinal) ? config : config + ".json");
        return File.Exists(bundled)
            ? bundled
            : throw new SiloConfigurationException($"No silo-config file '{config}': give a path, or one of: {string.Join(", ", Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "silo-config"), "*.json").Select(Path.GetFileNameWithoutExtension))}.");
    }

    /// <summary>Binds <see cref="SiloHostOptions"/> from <c>Coordination:Host</c>, validated at start as every options class of the service is.</summary>
    public static IServiceCollection AddSiloHostOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SiloHostOptions>().Bind(configuration.GetSection(SiloHostOptions.Section)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SiloHostOptions>, SiloHostOptionsValidator>());
        return services;
    }

    /// <summary>
    /// The host settings before any host exists (the launcher and each silo need their ports and data directory
    /// first): bound and validated through the same registration, failing with every broken rule at once.
    /// </summary>
    /// <exception cref="OptionsValidationException">A setting breaks its rule.</exception>
    public static SiloHostOptions Bind(IConfiguration configuration)
    {
        using var services = new ServiceCollection().AddSiloHostOptions(configuration).BuildServiceProvider();
        return services.GetRequiredService<IOptions<SiloHostOptions>>().Value;
    }
}
