using System.Collections.Concurrent;
using System.Security.Cryptography;
using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Replicas;

/// <summary>
/// Drops tombstones the proposer that wrote them could not drop (a member answered late, a message was lost,
/// the proposer's activation went away). Each silo runs one over its active replicas, pass after pass; a tombstone
/// seen in enough passes in a row (<see cref="PassesBefore"/>), with the same accepted ballot, is collected as
/// CASPaxos prescribes for deletion (Rystsov 2018): one more proposer prepares the key at EVERY member, and only if
/// every member answers and the highest value any holds is still nothing, it accepts that nothing at every member
/// under its own ballot and then tells every member to forget it (<see cref="ReplicaOperation.Forget"/>,
/// <see cref="KeyFloors"/>). It is a proposer like any other, writing back the value it read, so it is safe beside a
/// grain that uses the key again; a member that is down or still recovering stops the collection of its partitions
/// until it is back.
/// </summary>
/// <remarks>
/// The members of a partition often hold the same tombstones, so the silos take turns at each key: the member the
/// key's bucket names goes first, after <see cref="DesignatedPasses"/> passes, and each next member in the
/// configuration's order <see cref="FallbackPasses"/> passes after the one before (the one before may not hold it, or
/// cannot finish). Every member collecting after the same two passes pre-empted the others and tripled the work: when
/// the sessions holding 100,000 locks closed and many of their deletions left tombstones behind, the collectors kept
/// both cores busy for half a minute. <see cref="InFlight"/> workers take the due keys bucket by bucket, so their
/// requests to a member share batches instead of making a round trip each, and a partition whose member does not
/// answer is left for the next pass at its first key that stalls.
/// </remarks>
internal sealed class TombstoneCollector(ReplicaNode node, IReplicaTransport transport, BallotHints hints, TimeProvider time, TimeSpan roundTimeout)
{
    /// <summary>Passes in a row (same accepted ballot) after which the key's designated member collects a tombstone.</summary>
    public const int DesignatedPasses = 2;

    /// <summary>Passes each next member in the configuration's order waits after the one before it.</summary>
    public const int FallbackPasses = 2;

    /// <summary>Workers collecting at once, each a bucket of keys at a time, the keys of a bucket one after another.</summary>
    public const int InFlight = 32;

    private Dictionary<(int Partition, string Key), (Ballot Accepted, int Passes)> _seen = [];

    private enum Collected
    {
        Dropped,
        Kept,
        Stalled,
    }

    /// <summary>The member that collects <paramref name="key"/>'s tombstone first: the same on every silo and version.</summary>
    public static ReplicaId Designated(PartitionConfiguration config, string key) => config.Members[DesignatedIndex(config, key)].Id;

    /// <summary>
    /// The passes in a row after which <paramref name="self"/> collects <paramref name="key"/>'s tombstone: the
    /// designated member first, each next member in the configuration's order <see cref="FallbackPasses"/> later.
    /// </summary>
    public static int PassesBefore(PartitionConfiguration config, string key, ReplicaId self)
    {
        var members = config.Members.Length;
        var index = config.Find(self) is { } member ? config.Members.IndexOf(member) : -1;
        var rank = index < 0 ? members : (index - DesignatedIndex(config, key) + members) % members;
        return DesignatedPasses + (FallbackPasses * rank);
    }

    private static int DesignatedIndex(PartitionConfiguration config, string key) => KeyFloors.BucketOf(key) % config.Members.Length;

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
                if (passes >= PassesBefore(config, key, node.Self))
                {
                    due.Add((config, key, slot.Promise));
                }
            }
        }

        _seen = now;

        // Keys of one bucket go one after the other: where a member holds no slot for a key, its prepare raises the
        // bucket's floor there, and would turn away the accept of another key of that bucket prepared just before.
        var buckets = due.GroupBy(d => (d.Config.Partition, KeyFloors.BucketOf(d.Key))).Select(g => g.ToList()).ToList();
        var stalled = new ConcurrentDictionary<int, bool>();
        var next = -1;
        var dropped = await Task.WhenAll(Enumerable.Range(0, Math.Min(InFlight, buckets.Count)).Select(async _ =>
        {
            var count = 0;
            for (var b = Interlocked.Increment(ref next); b < buckets.Count; b = Interlocked.Increment(ref next))
            {
                foreach (var (config, key, promise) in buckets[b])
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (stalled.ContainsKey(config.Partition))
                    {
                        break;
                    }

                    switch (await CollectAsync(config, key, promise))
                    {
                        case Collected.Dropped:
                            count++;
                            break;
                        case Collected.Stalled:
                            stalled[config.Partition] = true;
                            break;
                    }
                }
            }

            return count;
        }));
        var collected = dropped.Sum();
        if (collected > 0)
        {
            ReplicationMetrics.RegistersForgotten.Add(collected);
            ReplicationMetrics.TombstonesCollected.Add(collected);
        }

        return collected;
    }

    private async Task<Collected> CollectAsync(PartitionConfiguration config, string key, Ballot localPromise)
    {
        const int Attempts = 3;
        var proposer = RandomNumberGenerator.GetInt32(1, int.MaxValue);
        ReplicaReply[]? prepared = null;
        var ballot = Ballot.Zero;
        for (var attempt = 0; attempt < Attempts && prepared is null; attempt++)
        {
            // Above this replica's own promise and every ballot seen since (a rejection raises the hint).
            ballot = hints.Get(config.Partition).NextAbove(localPromise, proposer);
            var (replies, stalled) = await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Prepare, ballot, null, Ballot.Zero));
            if (stalled)
            {
                return Collected.Stalled;
            }

            prepared = replies;
        }

        if (prepared is null)
        {
            return Collected.Kept;
        }

        var latest = prepared.MaxBy(r => r.Accepted)!;
        if (latest.Value is not null)
        {
            // Used again meanwhile: not a tombstone any more. Rounds ask only a majority, so the member this
            // tombstone was found on may never hear of the register's new life: the value read is written back at
            // every member (a change that keeps it as it is, under this ballot), or every pass would find the same
            // tombstone and pre-empt the register's proposer again.
            await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Accept, ballot, latest.Value, new Ballot(ballot.Counter + 1, proposer)));
            return Collected.Kept;
        }

        var floor = prepared.Max(r => r.TokenFloor);
        var (accepted, acceptStalled) = await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Accept, ballot, null, new Ballot(ballot.Counter + 1, proposer), floor));
        if (accepted is null)
        {
            return acceptStalled ? Collected.Stalled : Collected.Kept;
        }

        // Dropped only when every member took the forget (one that lost it keeps the tombstone for a later pass).
        var (forgotten, _) = await AllAsync(config, new ReplicaRequest(config.Partition, config.Epoch, key, ReplicaOperation.Forget, ballot, null, Ballot.Zero));
        return forgotten is null ? Collected.Kept : Collected.Dropped;
    }

    /// <summary>
    /// Sends to every member: their replies if all said Ok within the round timeout, else null (raising the ballot hint
    /// on a rejection); stalled when a member did not answer in time, or answered that it is recovering or at another epoch.
    /// </summary>
    private async Task<(ReplicaReply[]? Replies, bool Stalled)> AllAsync(PartitionConfiguration config, ReplicaRequest request)
    {
        try
        {
            var replies = await Task.WhenAll(config.Members.Select(m => transport.SendAsync(m.Id, request, CancellationToken.None))).WaitAsync(roundTimeout, time);
            foreach (var reply in replies)
            {
                hints.Raise(config.Partition, reply.Promise);
            }

            return replies.All(r => r.Status == ReplicaStatus.Ok) ? (replies, false) : (null, replies.Any(r => r.Status is not (ReplicaStatus.Ok or ReplicaStatus.Rejected)));
        }
        catch (Exception)
        {
            return (null, true);
        }
    }
}
