using Coordination.Client;
using Coordination.Membership.Hosting;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// What one silo serves for operators, the launcher's page, clients of the local cluster and the tests:
/// its metrics, our probes' view, Orleans' membership as it sees it, and its replicas.
/// </summary>
internal static class SiloApi
{
    public static void MapSiloApi(this WebApplication app)
    {
        app.MapGet("/api/metrics", (MetricsSnapshot metrics, bool? percentiles) => Results.Json(metrics.Report(percentiles ?? true)));
        app.MapPost("/api/metrics/reset", (MetricsSnapshot metrics) =>
        {
            metrics.Reset();
            return Results.NoContent();
        });
        app.MapGet("/api/membership", (IServiceProvider services) => services.GetService<ProbeHost>() is { } probes
            ? Results.Json(probes.Snapshot())
            : Results.Json(new { enabled = false }));
        app.MapGet("/api/orleans-membership", (IClusterMembershipService membership, ILocalSiloDetails local) => Results.Json(new OrleansMembershipView(
            local.SiloAddress.ToParsableString(),
            [.. membership.CurrentSnapshot.Members.Values.Select(m => new OrleansMemberStatus(m.SiloAddress.ToParsableString(), m.Status.ToString()))])));
        // The coordination page's view of this one silo (the launcher serves the same routes for all of its silos).
        app.MapGet("/api/coordination/silos", async (IServiceProvider services, HealthCheckService health, ILocalSiloDetails local, CancellationToken cancellationToken) =>
        {
            var readiness = await health.ReadinessAsync(cancellationToken);
            return Results.Json(new PageSilos([new PageSilo(local.Name, Environment.ProcessId, null, readiness is { Ready: true } ? PageSilo.Ready : PageSilo.NotReady, readiness, services.GetService<ProbeHost>()?.Snapshot())]));
        });
        app.MapGet("/api/coordination/metrics", (MetricsSnapshot metrics, ILocalSiloDetails local) => Results.Json(new PageMetrics([new PageSiloMetrics(local.Name, metrics.Headline())])));
        app.MapGet("/api/replicas", (ReplicaNode node) => Results.Json(node.Partitions
            .OrderBy(p => p.Configuration.Partition)
            .Select(p => new { partition = p.Configuration.Partition, epoch = p.Configuration.Epoch, role = p.Role.ToString(), registers = p.Count })));
    }
}
