using System.Collections.Concurrent;
using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// Which members a round asks first (a thrifty round asks only a majority, <see cref="RoundBroadcaster"/>): this
/// silo's own replica first, then the others in an order that differs per partition, so the partitions of a silo
/// spread their rounds over the other silos; a member that failed or kept a round waiting lately goes last for
/// <see cref="TroubleSpan"/>, and so does one still recovering. Shared by the proposers of a silo, so one slow
/// member is avoided by all of them after the first round that met it. It steers which members hold the newest value, never which replies count:
/// any majority is as good as another (Paxos).
/// </summary>
internal sealed class RoundTargets(TimeProvider time, ReplicaId? self)
{
    /// <summary>How long a member that failed, or kept a round waiting past its hedge, is asked last.</summary>
    public static readonly TimeSpan TroubleSpan = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<ReplicaId, long> _troubledUntil = new();
    private readonly long _troubleTicks = (long)(TroubleSpan.TotalSeconds * time.TimestampFrequency);

    /// <summary>The members of <paramref name="config"/> in the order a round asks them.</summary>
    public ReplicaId[] Order(PartitionConfiguration config)
    {
        var members = config.Members;
        var order = new ReplicaId[members.Length];
        var now = time.GetTimestamp();
        var next = 0;
        var start = (int)((uint)config.Partition % (uint)members.Length);
        if (self is { } own && config.Contains(own))
        {
            order[next++] = own;
        }

        // Members in good standing first, then troubled or recovering ones (a recovering member does not vote yet),
        // each group rotated by the partition. Each member's standing is read once: another proposer of this silo may
        // mark one troubled meanwhile, and a member read twice could land in both groups (and overrun the order).
        var back = order.Length;
        for (var i = 0; i < members.Length; i++)
        {
            var id = members[(start + i) % members.Length].Id;
            if (id == self)
            {
                continue;
            }

            if (IsTroubled(id, now) || config.IsRecovering(id))
            {
                order[--back] = id;
            }
            else
            {
                order[next++] = id;
            }
        }

        // The troubled ones were filled in from the end: put them back in rotation order.
        Array.Reverse(order, back, order.Length - back);
        return order;
    }

    /// <summary>A member failed a request, or kept a round waiting past its hedge: ask it last for a while.</summary>
    public void Troubled(ReplicaId member)
    {
        if (member != self)
        {
            _troubledUntil[member] = time.GetTimestamp() + _troubleTicks;
        }
    }

    private bool IsTroubled(ReplicaId member, long now) =>
        _troubledUntil.TryGetValue(member, out var until) && until > now;
}
