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
            : throw new OptionsValidationException("config", typeof(SiloHostOptions), [$"No silo-config file '{config}': give a path, or one of: {string.Join(", ", Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "silo-config"), "*.json").Select(Path.GetFileNameWithoutExtension))}."]);
    }

    /// <summary>Binds and validates <see cref="SiloHostOptions"/> (and the coordination options the silos will validate again), failing with every broken rule.</summary>
    public static SiloHostOptions Bind(IConfiguration configuration)
    {
        var host = new SiloHostOptions();
        configuration.GetSection(SiloHostOptions.Section).Bind(host);
        var result = new HostOptionsValidator().Validate(null, host);
        if (result.Failed)
        {
            throw new OptionsValidationException(SiloHostOptions.Section, typeof(SiloHostOptions), result.Failures);
        }

        return host;
    }
}
