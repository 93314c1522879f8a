using Coordination.Client;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

public static class CoordinationHealthChecksBuilderExtensions
{
    /// <summary>The ping's timeout when the registration gives none.</summary>
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Adds a health check of the coordination client (<see cref="CoordinationClientServiceCollectionExtensions.AddCoordinationClient"/>
    /// must be called too): unhealthy (or <paramref name="failureStatus"/>) when its gateway silo does not answer a ping
    /// within <paramref name="timeout"/> (5 s by default; the check's own limit too), degraded when the shared session
    /// was lost in the last TTL or its keepalives are late, healthy otherwise. The result's data carry the ping's time,
    /// the grants held and the shared session's tag, TTL and remaining lease. A timeout that is not positive, or longer
    /// than <see cref="int.MaxValue"/> milliseconds, is <see cref="ArgumentOutOfRangeException"/> here.
    /// </summary>
    public static IHealthChecksBuilder AddCoordination(this IHealthChecksBuilder builder, string name = "coordination", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var ping = timeout ?? DefaultTimeout;
        if (ping <= TimeSpan.Zero || ping > TimeSpan.FromMilliseconds(int.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, $"A health check's timeout must be positive and at most {TimeSpan.FromMilliseconds(int.MaxValue)}.");
        }

        // The ping's timeout bounds the check (nothing else in it waits), so the registration has none of its own: the
        // check, not a race with the framework's timer, says what did not answer.
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => Create(sp, ping),
            failureStatus,
            tags));
    }

    /// <summary>
    /// The check, reporting a missing or broken client itself instead of failing the whole health report: the framework
    /// makes each check outside its own error handling, so an exception here would fail every other check too.
    /// </summary>
    private static IHealthCheck Create(IServiceProvider sp, TimeSpan ping)
    {
        try
        {
            // The client's own registration needs the Orleans client: without one, it is not asked for.
            var grains = sp.GetService<IGrainFactory>();
            return new CoordinationHealthCheck(
                grains is null ? null : sp.GetService<CoordinationClient>(),
                grains,
                sp.GetService<IOptions<CoordinationClientOptions>>()?.Value ?? new CoordinationClientOptions(),
                sp.GetService<TimeProvider>() ?? TimeProvider.System,
                ping);
        }
        catch (Exception ex)
        {
            return new Unmade(ex);
        }
    }

    /// <summary>A check whose client could not be made: the failure status, with why.</summary>
    private sealed class Unmade(Exception error) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, $"The coordination client could not be made (are AddCoordinationClient and an Orleans client configured?): {error.Message}", error));
    }
}
