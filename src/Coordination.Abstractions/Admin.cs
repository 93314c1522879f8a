using System.Collections.Immutable;

namespace Coordination;

/// <summary>One replica configuration: which silos hold a partition's registers, and since when.</summary>
/// <param name="Partition">The partition number (a key belongs to partition hash(key) mod count).</param>
/// <param name="Epoch">Bumped by every configuration change; every replica message carries it.</param>
/// <param name="Members">The replica silos (address@generation) and the epoch each joined at.</param>
/// <param name="TokenEpoch">The cluster epoch this partition's state began in; fencing tokens start above it.</param>
[GenerateSerializer, Immutable, Alias("coord.PartitionView")]
public sealed record PartitionView(int Partition, long Epoch, ImmutableArray<string> Members, long TokenEpoch, ImmutableArray<string> Recovering);

/// <summary>An audited, explicit act on the cluster's replicated state.</summary>
[GenerateSerializer, Immutable, Alias("coord.AuditEntry")]
public sealed record AuditEntry(DateTimeOffset At, string Operator, string Action, string Reason, long ClusterEpoch, ImmutableArray<int> Partitions);

/// <summary>The replica configurations and audit trail of the cluster.</summary>
[GenerateSerializer, Immutable, Alias("coord.ClusterView")]
public sealed record ClusterView(long ClusterEpoch, int ReplicationFactor, ImmutableArray<PartitionView> Partitions, ImmutableArray<AuditEntry> Audit);

/// <summary>
/// Answers from the silo that received the call: a stateless worker, so no grain directory and no state. What a call
/// costs when it does nothing, the floor under every lock call (the benchmark measures it beside the locks):
/// <see cref="Ping"/> is a client's round trip to its gateway silo through Orleans' messaging alone;
/// <see cref="PingThroughReplica"/> adds what every replicated change needs at least, one round trip from there to
/// another silo's replica (a status question that touches no register).
/// </summary>
[Alias("coord.IPingGrain")]
public interface IPingGrain : IGrainWithIntegerKey
{
    /// <summary>Returns <paramref name="value"/>.</summary>
    [Alias("ping")]
    Task<long> Ping(long value);

    /// <summary>Returns <paramref name="value"/> once another silo's replica has answered a status question.</summary>
    /// <exception cref="QuorumUnavailableException">No other silo holds a replica yet, or the one asked did not answer.</exception>
    [Alias("ping-replica")]
    Task<long> PingThroughReplica(long value);
}
