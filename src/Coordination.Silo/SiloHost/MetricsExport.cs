using Coordination.Grains.Locks;
using Coordination.Membership.Protocol;
using Coordination.Replication.Protocol;
using Coordination.Silo.Configuration;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// OpenTelemetry export of the service's meters, one per layer, when <see cref="MetricsExportOptions"/> switches it on:
/// a Prometheus scrape endpoint on the silo's HTTP port (behind <see cref="HttpCredentials"/> like every surface but
/// health), and OTLP push to a collector.
/// </summary>
internal static class MetricsExport
{
    /// <summary>The meters of the service: replication, grains (locks, sessions, failover), membership probes.</summary>
    public static readonly IReadOnlyList<string> Meters = [ReplicationMetrics.MeterName, LockMetrics.MeterName, MembershipMetrics.MeterName];

    public static IServiceCollection AddMetricsExport(this IServiceCollection services, SiloHostOptions host, int index)
    {
        var o = host.Metrics;
        if (!o.Enabled)
        {
            return services;
        }

        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(host.ServiceId, serviceInstanceId: $"{host.ClusterId}/silo{index}"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter([.. Meters]);
                if (o.Prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (o.OtlpEndpoint is { } endpoint)
                {
                    metrics.AddOtlpExporter(otlp => otlp.Endpoint = new Uri(endpoint));
                }
            });
        return services;
    }

    public static void MapMetricsExport(this WebApplication app, SiloHostOptions host)
    {
        if (host.Metrics.Prometheus)
        {
            app.MapPrometheusScrapingEndpoint(MetricsExportOptions.PrometheusPath);
        }
    }
}
