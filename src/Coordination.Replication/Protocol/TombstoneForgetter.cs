using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;

namespace Coordination.Replication.Protocol;

/// <summary>
/// Drops a deleted register's tombstone from its replicas once EVERY configured member accepted it (CASPaxos'
/// deletion, Rystsov 2018: the empty value replicated to all nodes first), or turned it away holding nothing accepted
/// for the key under a higher promise (<see cref="RoundOutcome.Cleared"/>). Only then can no member hold an
/// older value that a later quorum might revive, and each member that drops the slot raises its bucket's
/// floor to the slot's promise (<see cref="KeyFloors"/>), so every old accept still in flight stays out. The
/// proposer keeps listening to the tombstone's round for the members that had not answered by the majority,
/// up to one round timeout; when one is missing the tombstone stays, for the replicas' collector to take later.
/// </summary>
internal sealed class TombstoneForgetter(IReplicaTransport transport, TimeProvider time, TimeSpan roundTimeout, ReplicationFaults faults)
{
    public void ForgetWhenAllCleared(PartitionConfiguration config, string key, Ballot tombstone, RoundOutcome round) =>
        _ = ForgetAsync(config, key, tombstone, round);

    private async Task ForgetAsync(PartitionConfiguration config, string key, Ballot tombstone, RoundOutcome round)
    {
        if (!faults.ForgetAfterMajority)
        {
            try
            {
                await round.AllAnswered.WaitAsync(roundTimeout, time);
            }
            catch (TimeoutException)
            {
                return;
            }

            if (round.Cleared < config.Members.Length)
            {
                return;
            }
        }

        var forget = new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Forget, tombstone, null, Ballot.Zero);
        foreach (var member in config.Members)
        {
            _ = SendAsync(member.Id, forget);
        }

        ReplicationMetrics.RegistersForgotten.Add(1);
    }

    private async Task SendAsync(ReplicaId member, ReplicaRequest forget)
    {
        try
        {
            // Nobody waits on it: it may ride with the next round to that member.
            await transport.SendLaterAsync(member, forget);
        }
        catch (Exception)
        {
            // Lost: that member keeps the tombstone until the replicas' collector drops it.
        }
    }
}
