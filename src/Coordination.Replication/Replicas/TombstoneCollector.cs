using System.Security.Cryptography;
using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Replicas;

/// <summary>
/// Drops tombstones the proposer that wrote them could not drop (a member answered late, a message was lost,
/// the proposer's activation went away). Each pass looks at this node's active replicas; a tombstone seen in
/// two passes in a row, with the same accepted ballot, is collected as CASPaxos prescribes for deletion
/// (Rystsov 2018): one more proposer prepares the key at EVERY member, and only if every member answers and
/// the highest value any holds is still nothing, it accepts that nothing at every member under its own ballot
/// and then tells every member to forget it (<see cref="ReplicaOperation.Forget"/>, <see cref="KeyFloors"/>).
/// It is a proposer like any other, writing back the value it read, so it is safe beside a grain that uses
/// the key again; a member that is down or still recovering simply stops the collection until it is back.
/// </summary>
internal sealed class TombstoneCollector(ReplicaNode node, IReplicaTransport transport, BallotHints hints, TimeProvider time, TimeSpan roundTimeout)
{
    private Dictionary<(int Partition, string Key), Ballot> _seen = [];

    /// <summary>One pass: collects the tombstones seen last time that are still the same; returns how many were dropped everywhere.</summary>
    public async Task<int> CollectAsync(CancellationToken cancellationToken)
    {
        var now = new Dictionary<(int, string), Ballot>();
        var due = new List<(PartitionConfiguration Config, string Key, Ballot Promise)>();
        foreach (var replica in node.Partitions.Where(r => r.Role == ReplicaRole.Active))
        {
            var config = replica.Configuration;
            foreach (var (key, slot) in replica.CopySlots())
            {
                if (slot.Value is not null || slot.Accepted.IsZero)
                {
                    continue;
                }

                now[(config.Partition, key)] = slot.Accepted;
                if (_seen.TryGetValue((config.Partition, key), out var before) && before == slot.Accepted)
                {
                    due.Add((config, key, slot.Promise));
                }
            }
        }

        _seen = now;
        var collected = 0;
        foreach (var (config, key, promise) in due)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await CollectAsync(config, key, promise))
            {
                collected++;
            }
        }

        if (collected > 0)
        {
            ReplicationMetrics.RegistersForgotten.Add(collected);
        }

        return collected;
    }

    private async Task<bool> CollectAsync(PartitionConfiguration config, string key, Ballot localPromise)
    {
        const int Attempts = 3;
        var proposer = RandomNumberGenerator.GetInt32(1, int.MaxValue);
        ReplicaReply[]? prepared = null;
        var ballot = Ballot.Zero;
        for (var attempt = 0; attempt < Attempts && prepared is null; attempt++)
        {
            // Above this replica's own promise and every ballot seen since (a rejection raises the hint).
            ballot = hints.Get(config.Partition).NextAbove(localPromise, proposer);
            prepared = await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Prepare, ballot, null, Ballot.Zero));
        }

        if (prepared is null)
        {
            return false;
        }

        var latest = prepared.MaxBy(r => r.Accepted)!;
        if (latest.Value is not null)
        {
            // Used again meanwhile: not a tombstone any more. Rounds ask only a majority, so the member this
            // tombstone was found on may never hear of the register's new life: the value read is written back at
            // every member (a change that keeps it as it is, under this ballot), or every pass would find the same
            // tombstone and pre-empt the register's proposer again.
            await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Accept, ballot, latest.Value, new Ballot(ballot.Counter + 1, proposer)));
            return false;
        }

        var floor = prepared.Max(r => r.TokenFloor);
        var accepted = await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Accept, ballot, null, new Ballot(ballot.Counter + 1, proposer), floor));
        if (accepted is null)
        {
            return false;
        }

        await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Forget, ballot, null, Ballot.Zero));
        return true;
    }

    /// <summary>Sends to every member and returns their replies if all said Ok within the round timeout, else null (raising the ballot hint on a rejection).</summary>
    private async Task<ReplicaReply[]?> AllAsync(PartitionConfiguration config, ReplicaRequest request)
    {
        try
        {
            var replies = await Task.WhenAll(config.Members.Select(m => transport.SendAsync(m.Id, request, CancellationToken.None))).WaitAsync(roundTimeout, time);
            foreach (var reply in replies)
            {
                hints.Raise(config.Partition, reply.Promise);
            }

            return replies.All(r => r.Status == ReplicaStatus.Ok) ? replies : null;
        }
        catch (Exception)
        {
            return null;
        }
    }
}
