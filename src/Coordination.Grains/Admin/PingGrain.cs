using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Orleans.Concurrency;

namespace Coordination.Grains.Admin;

/// <summary>
/// The no-op calls: activated on the silo that receives them, answered in their first turn or after one replica round
/// trip. Reentrant, so the calls waiting for a replica interleave as a lock grain's rounds do (a stateless worker keeps
/// at most one activation per core, and without it those would be all the calls in flight).
/// </summary>
[StatelessWorker]
[Reentrant]
internal sealed class PingGrain(MetadataDirectory directory, OrleansReplicaTransport transport) : Grain, IPingGrain
{
    private static readonly TimeSpan ReplicaTimeout = TimeSpan.FromSeconds(2);

    public Task<long> Ping(long value) => Task.FromResult(value);

    /// <summary>
    /// Asks one other member of the first assigned partition (the first in configuration order that is not this silo
    /// and not dead, as a thrifty round's remote member) whether it is active: the same transport and batching as a
    /// round's accept, and no register touched.
    /// </summary>
    public async Task<long> PingThroughReplica(long value)
    {
        var partition = directory.Current.Partitions.FirstOrDefault(p => p.IsAssigned);
        var other = partition?.Members.Select(m => (ReplicaId?)m.Id).FirstOrDefault(id => id != transport.Self && !directory.IsDead(id!.Value));
        if (partition is null || other is null)
        {
            throw new QuorumUnavailableException("ping", 0, 1, "no other silo holds a replica");
        }

        var status = new ReplicaRequest(partition.Partition, partition.Epoch, string.Empty, ReplicaOperation.Status, Ballot.Zero, null, Ballot.Zero);
        try
        {
            await transport.SendAsync(other.Value, status, CancellationToken.None).WaitAsync(ReplicaTimeout);
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException)
        {
            throw new QuorumUnavailableException("ping", 0, 1, $"{other.Value.Value} did not answer: {ex.Message}");
        }

        return value;
    }
}
