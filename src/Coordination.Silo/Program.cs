using System.CommandLine;
using Coordination.Silo.Configuration;
using Coordination.Silo.Launcher;
using Coordination.Silo.Logging;
using Coordination.Silo.SiloHost;
using Microsoft.Extensions.Options;

namespace Coordination.Silo;

/// <summary>
/// <c>dotnet run --project src/Coordination.Silo</c> with no arguments starts the local cluster (three silo
/// processes, the dashboard). <c>silo --index N</c> runs one silo (what the launcher starts, and what each
/// machine runs with Redis clustering). Settings: <c>--config NAME|PATH</c> (silo-config/), then
/// COORDINATION_ environment variables, then <c>--Section:Key=Value</c> overrides.
/// </summary>
internal static class Program
{
    /// <summary>
    /// How long a process told to stop (SIGTERM, Ctrl+C) may take before System.CommandLine ends it. Its default, 2 s,
    /// cut every slower graceful stop short: a silo that had not yet written itself Dead looked crashed to the others,
    /// and a launcher left its silos to notice its exit. Above the launcher's wait for its silos, which is above a
    /// silo's shutdown timeout, so each bound that applies is the host's own.
    /// </summary>
    internal static readonly TimeSpan TerminationTimeout = SiloChild.StopGrace + TimeSpan.FromSeconds(15);

    public static async Task<int> Main(string[] args)
    {
        var config = new Option<string>("--config") { Description = "A silo-config file name (local, redis, …) or path. Default: local." };
        var index = new Option<int>("--index") { Description = "This silo's index: its ports are the configured bases plus the index.", Required = true };

        var root = new RootCommand("Coordination: distributed locks on Orleans. With no command, starts the local three-silo cluster with its dashboard.") { config };
        root.TreatUnmatchedTokensAsErrors = false;
        root.SetAction((result, ct) => Guard(async () =>
        {
            var configuration = HostConfiguration.Build(result.GetValue(config), result.UnmatchedTokens);

            // Awaited here, so the loggers outlive the launcher's last message.
            using var loggers = LoggerFactory.Create(b => b.AddCoordinationConsole(configuration));
            var launcher = new LocalClusterLauncher(configuration, result.GetValue(config) ?? HostConfiguration.DefaultConfig, [.. result.UnmatchedTokens], loggers.CreateLogger<LocalClusterLauncher>(), TimeProvider.System);
            return await launcher.RunAsync(ct);
        }, ct));

        var silo = new Command("silo", "Run one silo in this process.") { config, index };
        silo.TreatUnmatchedTokensAsErrors = false;
        silo.SetAction((result, ct) => Guard(() =>
        {
            var configuration = HostConfiguration.Build(result.GetValue(config), result.UnmatchedTokens);
            return SiloProgram.RunAsync(configuration, result.GetValue(index), ct);
        }, ct));
        root.Add(silo);

        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TerminationTimeout });
    }

    /// <summary>
    /// Turns configuration errors into one clear message and exit code 2, not a stack trace; and a start cut short by a
    /// stop (Ctrl+C, SIGTERM while the silo was still joining) into one line and exit code 0, as the stop asked.
    /// </summary>
    private static async Task<int> Guard(Func<Task<int>> run, CancellationToken stopping)
    {
        try
        {
            return await run();
        }
        catch (Exception ex) when (stopping.IsCancellationRequested && ex is OperationCanceledException or OrleansLifecycleCanceledException)
        {
            await Console.Error.WriteLineAsync("Stopped before it had finished starting.");
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync("Invalid configuration:");
            foreach (var failure in ex.Failures)
            {
                await Console.Error.WriteLineAsync($"  - {failure}");
            }

            return 2;
        }
        catch (SiloConfigurationException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }
    }
}
