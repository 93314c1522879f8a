using Coordination.Replication.Configuration;

namespace Coordination.Replication.Hosting;

/// <summary>
/// A failure detector besides Orleans' own (our SWIM/Lifeguard probes), consulted for placement: a silo it
/// suspects or has declared dead gets no new replicas. Verdicts that cannot be taken back (a partition's
/// replicas lost, a re-initialisation allowed) wait for Orleans' membership, which the probes feed with
/// TryKill: one silo's view alone must not make a retryable failure final.
/// </summary>
public interface ISiloHealthView
{
    bool IsSuspected(ReplicaId silo);

    bool IsDeclaredDead(ReplicaId silo);
}

/// <summary>
/// Reads Orleans' membership view (and our probes' view, when they run) to tell which replicas are live,
/// leaving or dead. It only ever steers liveness (who gets new replicas, which error a caller sees); it
/// never decides which votes count.
/// </summary>
internal sealed class SiloLiveness(IClusterMembershipService membership, ILocalSiloDetails local, ISiloHealthView? probes = null)
{
    public ReplicaId Self { get; } = local.SiloAddress.ToReplicaId();

    /// <summary>
    /// Dead if Orleans' membership declared it dead, or no longer lists it and it is older than every live
    /// silo (a silo of an earlier incarnation of the cluster, long gone). A newer unknown silo is only joining.
    /// </summary>
    public bool IsDead(ReplicaId replica)
    {
        var snapshot = membership.CurrentSnapshot;
        var silo = SiloAddress.FromParsableString(replica.Value);
        var status = snapshot.GetSiloStatus(silo);
        if (status == SiloStatus.Dead)
        {
            return true;
        }

        if (status != SiloStatus.None)
        {
            return false;
        }

        var oldestLive = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.Generation).DefaultIfEmpty(int.MinValue).Min();
        return silo.Generation < oldestLive;
    }

    /// <summary>
    /// True when this silo's Orleans membership lists the silo as active. A restarted silo's successor is not, here,
    /// until this silo's view has caught up with the table: calls routed by this silo may not reach it yet.
    /// </summary>
    public bool IsActive(ReplicaId replica) => StatusOf(replica) == SiloStatus.Active;

    /// <summary>True when the silo is shutting down or stopping (it will not stay).</summary>
    public bool IsLeaving(ReplicaId replica) => StatusOf(replica) is SiloStatus.ShuttingDown or SiloStatus.Stopping;

    private SiloStatus StatusOf(ReplicaId replica) => membership.CurrentSnapshot.GetSiloStatus(SiloAddress.FromParsableString(replica.Value));

    public SiloPopulation Population(ClusterMetadata metadata)
    {
        var snapshot = membership.CurrentSnapshot;
        var live = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToReplicaId()).Where(r => probes?.IsSuspected(r) != true && probes?.IsDeclaredDead(r) != true).ToList();
        var leaving = snapshot.Members.Values.Where(m => m.Status is SiloStatus.ShuttingDown or SiloStatus.Stopping).Select(m => m.SiloAddress.ToReplicaId()).ToHashSet();
        var dead = metadata.Partitions.SelectMany(p => p.Members).Select(m => m.Id).Distinct().Where(IsDead).ToHashSet();
        return new SiloPopulation(live, dead, leaving);
    }

    /// <summary>The oldest active silo plans configuration changes; the others only follow (concurrent plans would be safe, just wasteful).</summary>
    public bool IsPlanner()
    {
        var oldest = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .OrderBy(m => m.SiloAddress.Generation)
            .ThenBy(m => m.SiloAddress.ToParsableString(), StringComparer.Ordinal)
            .FirstOrDefault();
        return oldest is not null && oldest.SiloAddress.ToReplicaId() == Self;
    }

    public IAsyncEnumerable<ClusterMembershipSnapshot> Updates => membership.MembershipUpdates;
}
