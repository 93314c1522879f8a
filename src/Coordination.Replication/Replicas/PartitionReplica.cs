using System.Collections.Immutable;
using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Replicas;

/// <summary>The voting status of one replica of one partition.</summary>
internal enum ReplicaRole
{
    /// <summary>Not in the configuration it knows: refuses every message.</summary>
    NotMember = 0,

    /// <summary>Holds the partition's state and votes.</summary>
    Active = 1,

    /// <summary>
    /// Joined after the partition's state began: copies the highest accepted (ballot, value) and promise of
    /// every register from a majority before it votes (Viewstamped Replication's recovering status).
    /// </summary>
    Recovering = 2,
}

/// <summary>What adopting a configuration did to a replica.</summary>
internal enum AdoptOutcome
{
    Ignored = 0,
    Adopted = 1,
    StartedRecovering = 2,
}

/// <summary>
/// One silo's replica of one partition: the acceptor slots of its registers, the floors that stand in for
/// absent keys (<see cref="KeyFloors"/>), and the configuration and role they are valid under. Thread-safe;
/// every operation is a short critical section.
/// </summary>
internal sealed class PartitionReplica
{
    private readonly Lock _gate = new();
    private readonly ReplicaId _self;
    private readonly ReplicationFaults _faults;
    private readonly KeyFloors _floors = new();
    private readonly Dictionary<ReplicaId, string[]> _copies = [];
    private Dictionary<string, RegisterSlot> _slots = new(StringComparer.Ordinal);
    private PartitionConfiguration _config;
    private ReplicaRole _role;
    private long _activeSince = -1;

    internal PartitionReplica(ReplicaId self, int partition, ReplicationFaults faults)
    {
        _self = self;
        _faults = faults;
        _config = PartitionConfiguration.Unassigned(partition);
    }

    public PartitionConfiguration Configuration
    {
        get { lock (_gate) { return _config; } }
    }

    public ReplicaRole Role
    {
        get { lock (_gate) { return _role; } }
    }

    /// <summary>How many register slots this replica keeps (absent keys take none).</summary>
    public int Count
    {
        get { lock (_gate) { return _slots.Count; } }
    }

    /// <summary>The partition's token floor at this replica.</summary>
    public long TokenFloor
    {
        get { lock (_gate) { return _floors.TokenFloor; } }
    }

    public ReplicaReply Handle(ReplicaRequest request)
    {
        lock (_gate)
        {
            if (request.Epoch != _config.Epoch)
            {
                return ReplicaReply.Refuse(ReplicaStatus.EpochMismatch, _config.Epoch);
            }

            if (_role != ReplicaRole.Active)
            {
                return ReplicaReply.Refuse(_role == ReplicaRole.Recovering ? ReplicaStatus.Recovering : ReplicaStatus.NotMember, _config.Epoch);
            }

            if (request.Operation == ReplicaOperation.Status)
            {
                return new ReplicaReply(ReplicaStatus.Ok, _config.Epoch, Ballot.Zero, Ballot.Zero, null, _floors.TokenFloor);
            }

            var exists = _slots.TryGetValue(request.Key, out var held);
            if (request.Operation == ReplicaOperation.Forget)
            {
                return Forget(request, exists ? held : null);
            }

            var slot = exists ? held! : _floors.Absent(request.Key);
            var (next, reply) = request.Operation switch
            {
                ReplicaOperation.Prepare => Acceptor.Prepare(slot, request.Ballot, _config.Epoch),
                ReplicaOperation.Accept => Acceptor.Accept(slot, request.Ballot, request.Value, request.Next, _config.Epoch),
                _ => throw new ArgumentOutOfRangeException(nameof(request), request.Operation, "unknown replica operation"),
            };
            if (!exists && request.Operation == ReplicaOperation.Prepare)
            {
                // A promise for an absent key is kept as its bucket's floor: a read creates no slot.
                _floors.Raise(request.Key, next.Promise);
            }
            else if (!ReferenceEquals(next, slot))
            {
                _slots[request.Key] = next;
            }

            if (reply.Status == ReplicaStatus.Ok && request.TokenFloor > 0)
            {
                _floors.RaiseToken(request.TokenFloor);
            }

            return reply with { TokenFloor = _floors.TokenFloor };
        }
    }

    /// <summary>
    /// Adopts a committed configuration newer than the one held. A member stays active only if it has
    /// been a member without interruption since it became active; a member of a fresh lineage starts
    /// active and empty; any other member starts recovering; a non-member drops its state.
    /// </summary>
    public AdoptOutcome Adopt(PartitionConfiguration config)
    {
        lock (_gate)
        {
            return AdoptLocked(config);
        }
    }

    /// <summary>
    /// Serves a recovering member one page of its copy: adopt its (committed) configuration first, which
    /// fences the older epoch here, then hand over the registers after the request's cursor, in key order,
    /// but only as an active member of exactly that epoch. The key order is fixed when the copy starts (the
    /// first page); registers created later are not sent, which is safe: a value chosen while the newcomer
    /// copies is accepted by a majority of the other members, which every later quorum meets.
    /// </summary>
    public SnapshotReply Snapshot(SnapshotRequest request, out AdoptOutcome adopted)
    {
        lock (_gate)
        {
            adopted = AdoptLocked(request.Configuration);
            if (_config.Epoch != request.Configuration.Epoch)
            {
                return SnapshotReply.Refuse(ReplicaStatus.EpochMismatch, _config.Epoch);
            }

            if (_role != ReplicaRole.Active)
            {
                return SnapshotReply.Refuse(_role == ReplicaRole.Recovering ? ReplicaStatus.Recovering : ReplicaStatus.NotMember, _config.Epoch);
            }

            if (request.After is null || !_copies.TryGetValue(request.Requester, out var keys))
            {
                keys = [.. _slots.Keys.Order(StringComparer.Ordinal)];
                _copies[request.Requester] = keys;
            }

            var start = 0;
            if (request.After is not null)
            {
                var found = Array.BinarySearch(keys, request.After, StringComparer.Ordinal);
                start = found >= 0 ? found + 1 : ~found;
            }

            var page = ImmutableArray.CreateBuilder<KeyedSlot>();
            var bytes = 0;
            var index = start;
            for (; index < keys.Length && page.Count < Math.Max(1, request.MaxSlots) && (page.Count == 0 || bytes < request.MaxBytes); index++)
            {
                if (_slots.TryGetValue(keys[index], out var slot))
                {
                    page.Add(new KeyedSlot(keys[index], slot));
                    bytes += keys[index].Length + RegisterValues.BytesOf(slot.Value);
                }
            }

            if (index < keys.Length)
            {
                return new SnapshotReply(ReplicaStatus.Ok, _config.Epoch, page.ToImmutable(), keys[index - 1], null, keys.Length);
            }

            _copies.Remove(request.Requester);
            return new SnapshotReply(ReplicaStatus.Ok, _config.Epoch, page.ToImmutable(), null, _floors.Copy(), keys.Length);
        }
    }

    /// <summary>
    /// Ends recovery with the merge of a majority's copies (per key the highest accepted value and the highest
    /// promise; floors by maximum). Returns false if the replica moved on (a newer configuration arrived) while copying.
    /// </summary>
    public bool CompleteRecovery(PartitionConfiguration config, IReadOnlyDictionary<string, RegisterSlot> merged, FloorsCopy floors)
    {
        lock (_gate)
        {
            var me = config.Find(_self);
            if (_config.Epoch != config.Epoch || _role != ReplicaRole.Recovering || me is null)
            {
                return false;
            }

            foreach (var (key, slot) in merged)
            {
                _slots[key] = _slots.TryGetValue(key, out var mine) ? RegisterSlot.Merge(mine, slot) : slot;
            }

            _floors.Merge(floors);
            _role = ReplicaRole.Active;
            _activeSince = me.Since;
            return true;
        }
    }

    /// <summary>A point-in-time copy of the slots, for diagnostics, the sweepers and the tombstone collector.</summary>
    public IReadOnlyList<KeyValuePair<string, RegisterSlot>> CopySlots()
    {
        lock (_gate)
        {
            return [.. _slots];
        }
    }

    private ReplicaReply Forget(ReplicaRequest request, RegisterSlot? slot)
    {
        if (slot is null)
        {
            return new ReplicaReply(ReplicaStatus.Ok, _config.Epoch, _floors.Of(request.Key), Ballot.Zero, null, _floors.TokenFloor);
        }

        if (slot.Value is not null || slot.Accepted != request.Ballot)
        {
            return new ReplicaReply(ReplicaStatus.Rejected, _config.Epoch, slot.Promise, slot.Accepted, null, _floors.TokenFloor);
        }

        _slots.Remove(request.Key);
        _floors.Raise(request.Key, _faults.FloorOfForgotten(slot));
        return new ReplicaReply(ReplicaStatus.Ok, _config.Epoch, _floors.Of(request.Key), Ballot.Zero, null, _floors.TokenFloor);
    }

    private AdoptOutcome AdoptLocked(PartitionConfiguration config)
    {
        if (config.Partition != _config.Partition)
        {
            throw new ArgumentException($"Configuration of partition {config.Partition} offered to replica of partition {_config.Partition}.", nameof(config));
        }

        if (config.Epoch <= _config.Epoch)
        {
            return AdoptOutcome.Ignored;
        }

        var me = config.Find(_self);
        _config = config;
        _copies.Clear();
        if (me is null)
        {
            _role = ReplicaRole.NotMember;
            _activeSince = -1;
            Reset();
            return AdoptOutcome.Adopted;
        }

        if (_role == ReplicaRole.Active && _activeSince == me.Since)
        {
            return AdoptOutcome.Adopted;
        }

        Reset();
        if (me.Since == config.LineageEpoch || _faults.VoteWithoutRecovery)
        {
            _role = ReplicaRole.Active;
            _activeSince = me.Since;
            return AdoptOutcome.Adopted;
        }

        _role = ReplicaRole.Recovering;
        _activeSince = -1;
        return AdoptOutcome.StartedRecovering;
    }

    private void Reset()
    {
        _slots = new(StringComparer.Ordinal);
        _floors.Clear();
    }
}
