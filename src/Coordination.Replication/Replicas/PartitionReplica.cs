using System.Collections.Immutable;
using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Replicas;

/// <summary>The voting status of one replica of one partition.</summary>
public enum ReplicaRole
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
public enum AdoptOutcome
{
    Ignored = 0,
    Adopted = 1,
    StartedRecovering = 2,
}

/// <summary>
/// One silo's replica of one partition: the acceptor slots of its registers plus the configuration and
/// role they are valid under. Thread-safe; every operation is a short critical section.
/// </summary>
public sealed class PartitionReplica
{
    private readonly Lock _gate = new();
    private readonly ReplicaId _self;
    private readonly ReplicationFaults _faults;
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

    public int Count
    {
        get { lock (_gate) { return _slots.Count; } }
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

            var slot = _slots.GetValueOrDefault(request.Key, RegisterSlot.Empty);
            var (next, reply) = request.Operation switch
            {
                ReplicaOperation.Prepare => Acceptor.Prepare(slot, request.Ballot, _config.Epoch),
                ReplicaOperation.Accept => Acceptor.Accept(slot, request.Ballot, request.Value, request.Next, _config.Epoch),
                _ => throw new ArgumentOutOfRangeException(nameof(request), request.Operation, "unknown replica operation"),
            };
            if (!ReferenceEquals(next, slot))
            {
                _slots[request.Key] = next;
            }

            return reply;
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
    /// Serves a recovering member: adopt its (committed) configuration first, which fences the older
    /// epoch here, then hand over every slot, but only as an active member of exactly that epoch.
    /// </summary>
    public SnapshotReply Snapshot(SnapshotRequest request, out AdoptOutcome adopted)
    {
        lock (_gate)
        {
            adopted = AdoptLocked(request.Configuration);
            if (_config.Epoch != request.Configuration.Epoch)
            {
                return new SnapshotReply(ReplicaStatus.EpochMismatch, _config.Epoch, null);
            }

            if (_role != ReplicaRole.Active)
            {
                return new SnapshotReply(_role == ReplicaRole.Recovering ? ReplicaStatus.Recovering : ReplicaStatus.NotMember, _config.Epoch, null);
            }

            return new SnapshotReply(ReplicaStatus.Ok, _config.Epoch, _slots.ToImmutableDictionary(StringComparer.Ordinal));
        }
    }

    /// <summary>
    /// Ends recovery with the merge of a majority's snapshots. Returns false if the replica moved on
    /// (a newer configuration arrived) while copying.
    /// </summary>
    public bool CompleteRecovery(PartitionConfiguration config, IReadOnlyCollection<ImmutableDictionary<string, RegisterSlot>> snapshots)
    {
        lock (_gate)
        {
            var me = config.Find(_self);
            if (_config.Epoch != config.Epoch || _role != ReplicaRole.Recovering || me is null)
            {
                return false;
            }

            foreach (var snapshot in snapshots)
            {
                foreach (var (key, slot) in snapshot)
                {
                    _slots[key] = _slots.TryGetValue(key, out var mine) ? RegisterSlot.Merge(mine, slot) : slot;
                }
            }

            _role = ReplicaRole.Active;
            _activeSince = me.Since;
            return true;
        }
    }

    /// <summary>A point-in-time copy of the slots, for diagnostics and the failover sweeper.</summary>
    public IReadOnlyList<KeyValuePair<string, RegisterSlot>> CopySlots()
    {
        lock (_gate)
        {
            return [.. _slots];
        }
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
        if (me is null)
        {
            _role = ReplicaRole.NotMember;
            _activeSince = -1;
            _slots = new(StringComparer.Ordinal);
            return AdoptOutcome.Adopted;
        }

        if (_role == ReplicaRole.Active && _activeSince == me.Since)
        {
            return AdoptOutcome.Adopted;
        }

        _slots = new(StringComparer.Ordinal);
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
}
