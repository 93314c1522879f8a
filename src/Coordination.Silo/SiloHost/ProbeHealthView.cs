using Coordination.Membership.Hosting;
using Coordination.Membership.Protocol;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;

namespace Coordination.Silo.SiloHost;

/// <summary>Our probes' view, as replication's liveness reads it.</summary>
internal sealed class ProbeHealthView(ProbeHost probes) : ISiloHealthView
{
    public bool IsSuspected(ReplicaId silo) => probes.StatusOf(silo.Value) == MemberStatus.Suspect;

    public bool IsDeclaredDead(ReplicaId silo) => probes.StatusOf(silo.Value) == MemberStatus.Dead;
}
