using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// Readiness of one silo, as an ASP.NET Core health check: healthy when it is active in the cluster, its
/// replicas are caught up, and every partition is fully redundant (none still copying, and every member active in
/// this silo's own Orleans membership view: a restarted silo's successor counts only once this silo's view lists it,
/// not merely while nothing calls it dead, so "ready everywhere" means every silo can route to every member).
/// A rolling restart waits for ready before it stops the next silo. The check's data carries the
/// <see cref="ReadinessReport"/> that <c>/health/ready</c> writes.
/// </summary>
internal sealed class ReadinessCheck(ReplicaNode node, MetadataDirectory directory, SiloLiveness liveness, IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
{
    public const string Name = "ready";

    /// <summary>The tag that selects this check for <c>/health/ready</c>.</summary>
    public const string Tag = "ready";

    /// <summary>The key of the <see cref="ReadinessReport"/> in the result's data.</summary>
    public const string ReportKey = "report";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var report = Report();
        var data = new Dictionary<string, object> { [ReportKey] = report };
        return Task.FromResult(report.Ready ? HealthCheckResult.Healthy(data: data) : HealthCheckResult.Unhealthy(data: data));
    }

    private ReadinessReport Report()
    {
        var self = local.SiloAddress;
        var active = membership.CurrentSnapshot.GetSiloStatus(self) == SiloStatus.Active;
        if (!directory.IsLoaded)
        {
            return new ReadinessReport(false, active, false, false, false, self.ToParsableString(), [], [], [], []);
        }

        var partitions = directory.Current.Partitions;
        var caughtUp = node.IsCaughtUp && !partitions.Any(p => p.IsRecovering(liveness.Self));
        var (degraded, inactive) = Degraded(partitions, liveness.IsActive);
        var redundant = degraded.Length == 0;
        var recovering = node.Recoveries.Select(RecoveryReport.Of).ToArray();
        var recovered = node.CompletedRecoveries.Select(RecoveryReport.Of).ToArray();
        return new ReadinessReport(active && caughtUp && redundant, active, true, caughtUp, redundant, self.ToParsableString(), degraded, inactive, recovering, recovered);
    }

    /// <summary>
    /// The partitions not fully redundant (unassigned, a member still copying, or a member this silo's view does not
    /// list as active), and those members, in order.
    /// </summary>
    internal static (int[] Partitions, string[] InactiveMembers) Degraded(IEnumerable<PartitionConfiguration> partitions, Func<ReplicaId, bool> isActive)
    {
        var inactive = new SortedSet<string>(StringComparer.Ordinal);
        var degraded = new List<int>();
        foreach (var p in partitions)
        {
            var notActive = p.IsAssigned ? p.Members.Where(m => !isActive(m.Id)).Select(m => m.Id.Value).ToList() : [];
            inactive.UnionWith(notActive);
            if (!p.IsAssigned || !p.Recovering.IsDefaultOrEmpty || notActive.Count > 0)
            {
                degraded.Add(p.Partition);
            }
        }

        return ([.. degraded], [.. inactive]);
    }
}

/// <summary>What <c>/health/ready</c> answers (the launcher, the coordination page and the tests read it).</summary>
/// <param name="InactiveMembers">Partition members this silo's Orleans membership does not list as active (dead,
/// leaving, or a successor it has not seen yet).</param>
/// <param name="Recovering">This silo's recoveries under way, with their progress and time so far.</param>
/// <param name="Recovered">The last finished recovery of each partition on this silo, with its duration.</param>
internal sealed record ReadinessReport(
    bool Ready,
    bool Active,
    bool MetadataLoaded,
    bool CaughtUp,
    bool FullyRedundant,
    string Silo,
    int[] DegradedPartitions,
    string[] InactiveMembers,
    RecoveryReport[] Recovering,
    RecoveryReport[] Recovered);

/// <summary>One partition's recovery as <c>/health/ready</c> shows it.</summary>
/// <param name="Copied">Registers received so far, over all sources.</param>
/// <param name="Expected">Registers the sources held when their copies began.</param>
/// <param name="SourcesDone">Sources whose whole copy has arrived, of <paramref name="SourcesNeeded"/>.</param>
internal sealed record RecoveryReport(int Partition, long Epoch, long Copied, long Expected, int SourcesDone, int SourcesNeeded, double Seconds)
{
    public static RecoveryReport Of(RecoveryProgress progress) =>
        new(progress.Partition, progress.Epoch, progress.Copied, progress.Expected, progress.SourcesDone, progress.SourcesNeeded, Math.Round(progress.Elapsed.TotalSeconds, 3));
}
