using Coordination.Client;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

public static class CoordinationHealthChecksBuilderExtensions
{
    /// <summary>The ping's timeout when the registration gives none.</summary>
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Adds a health check of the coordination client (<see cref="CoordinationClientServiceCollectionExtensions.AddCoordinationClient"/> must be called too): unhealthy
    /// (or <paramref name="failureStatus"/>) when its gateway silo does not answer a ping within <paramref name="timeout"/>
    /// (5 s by default), degraded when the shared session was lost or its keepalives are late, healthy otherwise. The
    /// result's data carries the ping's time, the grants held and the shared session's tag, TTL and remaining lease.
    /// </summary>
    public static IHealthChecksBuilder AddCoordination(this IHealthChecksBuilder builder, string name = "coordination", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (timeout is { } t && t <= TimeSpan.Zero && t != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), t, "A health check's timeout must be positive, or Timeout.InfiniteTimeSpan.");
        }

        var ping = timeout is { } given && given != Timeout.InfiniteTimeSpan ? given : DefaultTimeout;
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new CoordinationHealthCheck(
                sp.GetRequiredService<CoordinationClient>(),
                sp.GetRequiredService<IGrainFactory>(),
                sp.GetRequiredService<IOptions<CoordinationClientOptions>>().Value,
                sp.GetService<TimeProvider>() ?? TimeProvider.System,
                ping),
            failureStatus,
            tags,
            timeout));
    }
}
