using Coordination.Membership.Hosting;
using Coordination.Replication.Hosting;
using Coordination.Replication.Replicas;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// Liveness and readiness of one silo. Ready means: active in the cluster, its replicas caught up, and
/// every partition fully redundant (all members live, none still copying). A rolling restart waits for
/// ready before it stops the next silo.
/// </summary>
internal static class HealthEndpoints
{
    public static void MapHealth(this WebApplication app)
    {
        app.MapGet("/health/live", () => Results.Json(new { live = true }));
        app.MapGet("/health/ready", (IServiceProvider services) =>
        {
            var report = Report(services);
            return Results.Json(report, statusCode: report.Ready ? 200 : 503);
        });
        app.MapGet("/api/metrics", (MetricsSnapshot metrics) => Results.Json(metrics.Report()));
        app.MapPost("/api/metrics/reset", (MetricsSnapshot metrics) =>
        {
            metrics.Reset();
            return Results.NoContent();
        });
        app.MapGet("/api/membership", (IServiceProvider services) => services.GetService<ProbeHost>() is { } probes
            ? Results.Json(probes.Snapshot())
            : Results.Json(new { enabled = false }));
        app.MapGet("/api/orleans-membership", (IClusterMembershipService membership, ILocalSiloDetails local) => Results.Json(new
        {
            self = local.SiloAddress.ToParsableString(),
            members = membership.CurrentSnapshot.Members.Values.Select(m => new { member = m.SiloAddress.ToParsableString(), status = m.Status.ToString() }),
        }));
        app.MapGet("/api/replicas", (ReplicaNode node) => Results.Json(node.Partitions
            .OrderBy(p => p.Configuration.Partition)
            .Select(p => new { partition = p.Configuration.Partition, epoch = p.Configuration.Epoch, role = p.Role.ToString(), registers = p.Count })));
    }

    internal sealed record HealthReport(bool Ready, bool Active, bool MetadataLoaded, bool CaughtUp, bool FullyRedundant, string Silo, int[] DegradedPartitions);

    private static HealthReport Report(IServiceProvider services)
    {
        var node = services.GetRequiredService<ReplicaNode>();
        var directory = services.GetRequiredService<MetadataDirectory>();
        var liveness = services.GetRequiredService<SiloLiveness>();
        var membership = services.GetRequiredService<IClusterMembershipService>();
        var self = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        var active = membership.CurrentSnapshot.GetSiloStatus(self) == SiloStatus.Active;
        if (!directory.IsLoaded)
        {
            return new HealthReport(false, active, false, false, false, self.ToParsableString(), []);
        }

        var partitions = directory.Current.Partitions;
        var caughtUp = node.IsCaughtUp && !partitions.Any(p => p.IsRecovering(liveness.Self));
        var degraded = partitions
            .Where(p => !p.IsAssigned || !p.Recovering.IsDefaultOrEmpty || p.Members.Any(m => liveness.IsDead(m.Id)))
            .Select(p => p.Partition)
            .ToArray();
        var redundant = degraded.Length == 0;
        return new HealthReport(active && caughtUp && redundant, active, true, caughtUp, redundant, self.ToParsableString(), degraded);
    }
}
