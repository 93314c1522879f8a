using System.Text.Json.Serialization;
using System.Collections.Immutable;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Configuration;

/// <summary>A member of a replica configuration and the epoch it joined at.</summary>
[GenerateSerializer, Immutable, Alias("coord.ReplicaMember")]
public sealed record ReplicaMember(ReplicaId Id, long Since);

/// <summary>
/// The agreed configuration of one partition of keys. Changed only through a compare-and-swap of the
/// cluster metadata, one member at a time (Vertical Paxos: the configuration master is the metadata store).
/// </summary>
/// <param name="Partition">The partition number.</param>
/// <param name="Epoch">0 while unassigned; bumped by every change. Replicas refuse messages of another epoch.</param>
/// <param name="Members">The replicas; a majority of them is a quorum.</param>
/// <param name="LineageEpoch">The epoch this partition's state began empty (first assignment or re-initialisation).
/// Members that joined at this epoch start active; later joiners recover first.</param>
/// <param name="TokenEpoch">The cluster epoch of the lineage: fencing tokens of its keys start above TokenEpoch·2^40.</param>
/// <param name="Recovering">Members that joined later and have not yet reported their copy complete.</param>
[GenerateSerializer, Immutable, Alias("coord.PartitionConfiguration")]
public sealed record PartitionConfiguration(
    int Partition,
    long Epoch,
    ImmutableArray<ReplicaMember> Members,
    long LineageEpoch,
    long TokenEpoch,
    ImmutableArray<ReplicaId> Recovering)
{
    public static PartitionConfiguration Unassigned(int partition) => new(partition, 0, [], 0, 0, []);

    [JsonIgnore]
    public bool IsAssigned => !Members.IsDefaultOrEmpty;

    [JsonIgnore]
    public int QuorumSize => Quorum.Majority(Members.Length);

    public ReplicaMember? Find(ReplicaId id)
    {
        foreach (var m in Members)
        {
            if (m.Id == id)
            {
                return m;
            }
        }

        return null;
    }

    public bool Contains(ReplicaId id) => Find(id) is not null;

    public bool IsRecovering(ReplicaId id) => !Recovering.IsDefaultOrEmpty && Recovering.Contains(id);

    public override string ToString() =>
        $"p{Partition}@e{Epoch}[{string.Join(",", Members.Select(m => IsRecovering(m.Id) ? m.Id + "(rec)" : m.Id.ToString()))}]";
}
