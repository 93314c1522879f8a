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
/// <remarks>
/// Every member of a partition holds the same tombstones, so each has one collector that takes it first: the member
/// the key's bucket names (<see cref="Designated"/>), after <see cref="DesignatedPasses"/> passes; the others only
/// after <see cref="OtherPasses"/> (the designated member may have dropped its copy while another kept one, or be
/// unable to finish). Three collectors preparing one key at once pre-empted each other and tripled the work: when
/// the sessions holding 100,000 locks closed and many of their deletions left tombstones behind, the collectors kept
/// both cores busy for half a minute. The due keys are collected <see cref="InFlight"/> buckets at a time, so their
/// requests to a member share batches instead of making a round trip each.
/// </remarks>
internal sealed class TombstoneCollector(ReplicaNode node, IReplicaTransport transport, BallotHints hints, TimeProvider time, TimeSpan roundTimeout)
{
    /// <summary>Passes in a row (same accepted ballot) after which the key's designated member collects a tombstone.</summary>
    public const int DesignatedPasses = 2;

    /// <summary>Passes in a row after which any other member holding the tombstone collects it.</summary>
    public const int OtherPasses = 4;

    /// <summary>Buckets of keys collected at once (one key of each at a time).</summary>
    public const int InFlight = 32;

    private Dictionary<(int Partition, string Key), (Ballot Accepted, int Passes)> _seen = [];

    /// <summary>The member that collects <paramref name="key"/>'s tombstone first: the same on every silo and version.</summary>
    public static ReplicaId Designated(PartitionConfiguration config, string key) =>
        config.Members[KeyFloors.BucketOf(key) % config.Members.Length].Id;

    /// <summary>One pass: collects the tombstones seen often enough that are still the same; returns how many were dropped everywhere.</summary>
    public async Task<int> CollectAsync(CancellationToken cancellationToken)
    {
        var now = new Dictionary<(int, string), (Ballot, int)>();
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

                var passes = _seen.TryGetValue((config.Partition, key), out var before) && before.Accepted == slot.Accepted ? before.Passes + 1 : 1;
                now[(config.Partition, key)] = (slot.Accepted, passes);
                if (passes >= (Designated(config, key) == node.Self ? DesignatedPasses : OtherPasses))
                {
                    due.Add((config, key, slot.Promise));
                }
            }
        }

        _seen = now;
        var collected = 0;
        // Keys of one bucket go one after the other: where a member holds no slot for a key, its prepare raises the
        // bucket's floor there, and would turn away the accept of another key of that bucket prepared just before.
        var buckets = due.GroupBy(d => (d.Config.Partition, KeyFloors.BucketOf(d.Key))).Select(g => g.ToList()).ToList();
        foreach (var chunk in buckets.Chunk(InFlight))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var results = await Task.WhenAll(chunk.Select(async bucket =>
            {
                var dropped = 0;
                foreach (var (config, key, promise) in bucket)
                {
                    dropped += await CollectAsync(config, key, promise) ? 1 : 0;
                }

                return dropped;
            }));
            collected += results.Sum();
        }

        if (collected > 0)
        {
            ReplicationMetrics.RegistersForgotten.Add(collected);
            ReplicationMetrics.TombstonesCollected.Add(collected);
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
