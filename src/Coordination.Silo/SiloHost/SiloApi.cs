using Coordination.Client;
using Coordination.Membership.Hosting;
using Coordination.Replication.Replicas;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// What one silo serves for operators, the launcher's page, clients of the local cluster and the tests:
/// its metrics, our probes' view, Orleans' membership as it sees it, and its replicas.
/// </summary>
internal static class SiloApi
{
    public static void MapSiloApi(this WebApplication app)
    {
        app.MapGet("/api/metrics", (MetricsSnapshot metrics) => Results.Json(metrics.Report()));
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
        app.MapGet("/api/replicas", (ReplicaNode node) => Results.Json(node.Partitions
            .OrderBy(p => p.Configuration.Partition)
            .Select(p => new { partition = p.Configuration.Partition, epoch = p.Configuration.Epoch, role = p.Role.ToString(), registers = p.Count })));
    }
}
