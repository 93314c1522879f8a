using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Coordination.Silo.Logging;

/// <summary>
/// The console log of every process of the host (launcher, silos, the dashboard's client): one line per entry with
/// a timestamp; the service's own categories (<c>Coordination.*</c>) at information, everything else at warning
/// (Polly's per-placement "Execution attempt" lines, Orleans' start-up chatter); minus the entries that only look
/// alarming (see <see cref="QuietConsoleLoggerProvider"/>). <c>Logging:LogLevel:&lt;category&gt;</c> in the
/// configuration overrides any of these levels.
/// </summary>
internal static class ConsoleLogging
{
    public const string OwnCategories = "Coordination";

    /// <summary>Orleans' grain-service base class logs its start and ring-range changes under our grain services' names.</summary>
    private static readonly string[] OrleansChatterUnderOurNames =
    [
        "Coordination.Replication.Hosting.ReplicaGrainService",
        "Coordination.Membership.Hosting.ProbeGrainService",
    ];

    private const string HealthCheckService = "Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService";

    public static ILoggingBuilder AddCoordinationConsole(this ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter(OwnCategories, LogLevel.Information);
        foreach (var category in OrleansChatterUnderOurNames)
        {
            logging.AddFilter(category, LogLevel.Warning);
        }

        // The health-check service logs an error for every probe of /health/ready that finds the silo not ready
        // (starting, catching up): an expected state the endpoint itself reports, not a failure.
        logging.AddFilter(HealthCheckService, LogLevel.Critical);

        // Added last, so the operator's levels win over the defaults above.
        logging.AddConfiguration(configuration.GetSection("Logging"));

        logging.Services.AddSingleton<ShutdownSignal>();
        logging.Services.AddHostedService<ShutdownSignal.Watcher>();
        var console = logging.Services.Single(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider));
        logging.Services.Remove(console);
        logging.Services.AddSingleton<ILoggerProvider>(sp => new QuietConsoleLoggerProvider(
            new ConsoleLoggerProvider(sp.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>(), sp.GetServices<ConsoleFormatter>()),
            sp.GetRequiredService<ShutdownSignal>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return logging;
    }
}
