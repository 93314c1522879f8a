using System.Text.Json.Serialization;
using System.Collections.Immutable;

namespace Coordination.Replication.Configuration;

/// <summary>
/// The cluster's durable coordination metadata: the cluster epoch (bumped at every fresh start and every
/// re-initialisation, and placed in the high bits of fencing tokens), every partition's replica
/// configuration, the audit trail of explicit operator acts, and the silos announced as draining (about
/// to stop: they no longer count as caught-up replicas for anyone's drain). Versioned for compare-and-swap.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.ClusterMetadata")]
public sealed record ClusterMetadata(
    long Version,
    long ClusterEpoch,
    int ReplicationFactor,
    ImmutableArray<PartitionConfiguration> Partitions,
    ImmutableArray<AuditEntry> Audit,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    ImmutableArray<ReplicaId> Draining = default)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public ImmutableArray<ReplicaId> DrainingOrEmpty => Draining.IsDefault ? [] : Draining;

    public bool IsDraining(ReplicaId id) => !Draining.IsDefaultOrEmpty && Draining.Contains(id);

    /// <summary>How many audit entries are kept (oldest dropped first).</summary>
    public const int MaxAuditEntries = 200;

    /// <summary>A brand-new cluster: epoch 1, every partition unassigned.</summary>
    public static ClusterMetadata Create(int partitions, int replicationFactor, AuditEntry created) =>
        new(1, 1, replicationFactor,
            [.. Enumerable.Range(0, partitions).Select(PartitionConfiguration.Unassigned)],
            [created],
            []);

    [JsonIgnore]
    public int PartitionCount => Partitions.Length;

    /// <summary>A copy with one more version and the given partitions replaced.</summary>
    public ClusterMetadata WithPartitions(IEnumerable<PartitionConfiguration> changed)
    {
        var builder = Partitions.ToBuilder();
        foreach (var p in changed)
        {
            builder[p.Partition] = p;
        }

        return this with { Version = Version + 1, Partitions = builder.ToImmutable() };
    }

    public ClusterMetadata WithAudit(AuditEntry entry)
    {
        var audit = Audit.Add(entry);
        if (audit.Length > MaxAuditEntries)
        {
            audit = audit.RemoveRange(0, audit.Length - MaxAuditEntries);
        }

        return this with { Audit = audit };
    }
}
