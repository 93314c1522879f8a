using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// Liveness and readiness of one silo through ASP.NET Core health checks. <c>/health/live</c> runs no check:
/// the process answers. <c>/health/ready</c> runs <see cref="ReadinessCheck"/>: 200 when ready, 503 when not,
/// with the <see cref="ReadinessReport"/> as its body either way.
/// </summary>
internal static class HealthEndpoints
{
    public static IServiceCollection AddSiloHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<ReadinessCheck>(ReadinessCheck.Name, tags: [ReadinessCheck.Tag]);
        return services;
    }

    public static void MapHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions
        {
            Predicate = _ => false,
            ResponseWriter = (context, _) => context.Response.WriteAsJsonAsync(new { live = true }),
        });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadinessCheck.Tag),
            ResponseWriter = WriteReadinessAsync,
        });
    }

    /// <summary>This silo's readiness as <c>/health/ready</c> reports it, for pages that show it beside other things; null when the check threw.</summary>
    public static async Task<ReadinessReport?> ReadinessAsync(this HealthCheckService health, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(check => check.Tags.Contains(ReadinessCheck.Tag), cancellationToken);
        return report.Entries[ReadinessCheck.Name].Data.TryGetValue(ReadinessCheck.ReportKey, out var readiness) ? readiness as ReadinessReport : null;
    }

    /// <summary>The check's report as it is; a check that threw has none, and says why it is not ready.</summary>
    private static Task WriteReadinessAsync(HttpContext context, HealthReport report)
    {
        var entry = report.Entries[ReadinessCheck.Name];
        return entry.Data.TryGetValue(ReadinessCheck.ReportKey, out var readiness) && readiness is ReadinessReport ready
            ? context.Response.WriteAsJsonAsync(ready)
            : context.Response.WriteAsJsonAsync(new { ready = false, error = entry.Exception?.Message ?? entry.Description });
    }
}
