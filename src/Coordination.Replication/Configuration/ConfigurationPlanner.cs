using System.Collections.Immutable;

namespace Coordination.Replication.Configuration;

/// <summary>What the planner knows about the silos that can host replicas.</summary>
/// <param name="Live">Silos that are up and may take new replicas.</param>
/// <param name="Dead">Silos declared dead (or gone from membership): they will never answer again.</param>
/// <param name="Leaving">Silos that are up but shutting down: move their replicas off while they can still be copied from.</param>
internal sealed record SiloPopulation(IReadOnlyCollection<ReplicaId> Live, IReadOnlySet<ReplicaId> Dead, IReadOnlySet<ReplicaId> Leaving)
{
    public bool IsDead(ReplicaId id) => Dead.Contains(id);
}

/// <summary>
/// Decides replica configuration changes as pure functions of the metadata and the silo population.
/// Safety never depends on these choices (a wrong guess about who is dead costs redundancy, not data);
/// they only keep partitions assigned, replaced one member at a time, and spread over hosts.
/// </summary>
internal static class ConfigurationPlanner
{
    /// <summary>
    /// True when fewer than a majority of the partition's members are both alive and caught up: its state
    /// cannot be recovered without an operator's re-initialisation.
    /// </summary>
    public static bool HasLostMajority(PartitionConfiguration config, Func<ReplicaId, bool> isDead, Func<ReplicaId, bool>? caughtUp = null)
    {
        if (!config.IsAssigned)
        {
            return false;
        }

        // A member the metadata still lists as recovering may have finished (its report has not landed yet):
        // when it says so, it holds every acknowledged value like the others.
        var holders = config.Members.Count(m => !isDead(m.Id) && (!config.IsRecovering(m.Id) || caughtUp?.Invoke(m.Id) == true));
        return holders < config.QuorumSize;
    }

    /// <summary>
    /// The next metadata: unassigned partitions get members once enough silos are live; a dead or leaving
    /// member is replaced by a live silo (at most one change per partition, and never while another
    /// member is still recovering unless the replaced member is that one). Null when nothing changes.
    /// </summary>
    public static ClusterMetadata? Plan(ClusterMetadata current, SiloPopulation population)
    {
        // Draining silos are about to stop: move their replicas off while they can still be copied from.
        population = population with { Leaving = population.Leaving.Union(current.DrainingOrEmpty).ToHashSet() };
        var load = CountLoad(current, population.Live);
        var changed = new List<PartitionConfiguration>();
        foreach (var config in current.Partitions)
        {
            var next = config.IsAssigned
                ? PlanReplacement(config, population, load)
                : PlanGenesis(config, current, population, load);
            if (next is not null)
            {
                changed.Add(next);
            }
        }

        var draining = current.DrainingOrEmpty.Where(id => !population.IsDead(id)).ToImmutableArray();
        if (changed.Count == 0)
        {
            return draining.Length == current.DrainingOrEmpty.Length ? null : current with { Version = current.Version + 1, Draining = draining };
        }

        return current.WithPartitions(changed) with { Draining = draining };
    }

    /// <summary>
    /// The partitions where <paramref name="self"/> is a member whose other members do not hold a caught-up
    /// majority: live, not draining, not recovering. Stopping <paramref name="self"/> now would leave each
    /// of them without a majority of replicas that have the state.
    /// </summary>
    public static List<PartitionConfiguration> ShortWithout(ClusterMetadata current, ReplicaId self, Func<ReplicaId, bool> isGone) =>
        [.. current.Partitions.Where(p => p.Contains(self) && CaughtUpWithout(current, p, self, isGone) < p.QuorumSize)];

    /// <summary>
    /// Whether waiting can fix a partition short of a caught-up majority without <paramref name="self"/>:
    /// a live member still copying, or a live spare silo the planner can add, could complete it.
    /// </summary>
    public static bool CanRecover(ClusterMetadata current, PartitionConfiguration p, ReplicaId self, Func<ReplicaId, bool> isGone, IReadOnlyCollection<ReplicaId> live)
    {
        bool Usable(ReplicaId id) => id != self && !isGone(id) && !current.IsDraining(id);
        var catchingUp = p.Members.Count(m => Usable(m.Id) && p.IsRecovering(m.Id));
        var spares = live.Count(id => Usable(id) && !p.Contains(id));
        return CaughtUpWithout(current, p, self, isGone) + catchingUp + Math.Min(spares, p.Members.Length) >= p.QuorumSize;
    }

    /// <summary>Announces <paramref name="self"/> as draining (idempotent).</summary>
    public static ClusterMetadata WithDraining(ClusterMetadata current, ReplicaId self) =>
        current.IsDraining(self) ? current : current with { Version = current.Version + 1, Draining = current.DrainingOrEmpty.Add(self) };

    private static int CaughtUpWithout(ClusterMetadata current, PartitionConfiguration p, ReplicaId self, Func<ReplicaId, bool> isGone) =>
        p.Members.Count(m => m.Id != self && !isGone(m.Id) && !current.IsDraining(m.Id) && !p.IsRecovering(m.Id));

    /// <summary>
    /// Re-initialises partitions whose majority is lost: new members on live silos, state starting empty,
    /// a new lineage, and a bumped cluster epoch so every later fencing token exceeds every earlier one.
    /// Refuses partitions that still have a majority: their state is intact and would be thrown away.
    /// </summary>
    /// <param name="caughtUp">Members listed as recovering that answered, active, at their partition's epoch: they hold the partition's state.</param>
    public static ClusterMetadata Reinitialize(
        ClusterMetadata current,
        IReadOnlyCollection<int> partitions,
        SiloPopulation population,
        AuditEntry audit,
        Func<int, ReplicaId, bool>? caughtUp = null)
    {
        bool IsLost(PartitionConfiguration p) => HasLostMajority(p, population.IsDead, m => caughtUp?.Invoke(p.Partition, m) == true);
        var targets = partitions.Count > 0
            ? partitions.Distinct().Order().ToList()
            : [.. current.Partitions.Where(IsLost).Select(p => p.Partition)];
        foreach (var p in targets)
        {
            if (p < 0 || p >= current.PartitionCount)
            {
                throw new CoordinationArgumentException("partition", $"partition {p} does not exist (the cluster has {current.PartitionCount})");
            }

            if (!IsLost(current.Partitions[p]))
            {
                throw new CoordinationArgumentException("partition", $"partition {p} still has a majority of live replicas; re-initialising it would discard acknowledged state");
            }
        }

        if (population.Live.Count < current.ReplicationFactor)
        {
            throw new CoordinationException($"Re-initialisation needs {current.ReplicationFactor} live silos; only {population.Live.Count} are live.");
        }

        var epoch = current.ClusterEpoch + 1;
        var load = CountLoad(current, population.Live);
        var changed = new List<PartitionConfiguration>();
        foreach (var p in targets)
        {
            var old = current.Partitions[p];
            var configEpoch = old.Epoch + 1;
            var members = PickSilos(population.Live, current.ReplicationFactor, load, [], p);
            changed.Add(new PartitionConfiguration(p, configEpoch, [.. members.Select(id => new ReplicaMember(id, configEpoch))], configEpoch, epoch, []));
        }

        var entry = audit with { ClusterEpoch = epoch, Partitions = [.. targets] };
        return (current.WithPartitions(changed) with { ClusterEpoch = epoch }).WithAudit(entry);
    }

    /// <summary>
    /// A fresh start of a cluster whose silos are all gone (the local launcher's start): every partition
    /// becomes unassigned under a new epoch and the cluster epoch is bumped, so the state that died with the
    /// silos is never mistaken for the new one and every new fencing token exceeds every old one. Audited.
    /// </summary>
    public static ClusterMetadata RestartAll(ClusterMetadata current, AuditEntry audit)
    {
        var epoch = current.ClusterEpoch + 1;
        var reset = current.Partitions.Select(p => new PartitionConfiguration(p.Partition, p.Epoch + 1, [], 0, 0, []));
        var entry = audit with { ClusterEpoch = epoch, Partitions = [.. current.Partitions.Select(p => p.Partition)] };
        return (current.WithPartitions(reset) with { ClusterEpoch = epoch }).WithAudit(entry);
    }

    /// <summary>Marks <paramref name="member"/> as caught up, if it is still a recovering member.</summary>
    public static ClusterMetadata? MarkRecovered(ClusterMetadata current, int partition, ReplicaId member, long since)
    {
        var config = current.Partitions[partition];
        var m = config.Find(member);
        if (m is null || m.Since != since || !config.IsRecovering(member))
        {
            return null;
        }

        return current.WithPartitions([config with { Recovering = config.Recovering.Remove(member) }]);
    }

    private static PartitionConfiguration? PlanGenesis(PartitionConfiguration config, ClusterMetadata current, SiloPopulation population, Dictionary<ReplicaId, int> load)
    {
        var eligible = population.Live.Where(id => !population.Leaving.Contains(id)).ToList();
        if (eligible.Count < current.ReplicationFactor)
        {
            return null;
        }

        var epoch = config.Epoch + 1;
        var members = PickSilos(eligible, current.ReplicationFactor, load, [], config.Partition);
        return new PartitionConfiguration(config.Partition, epoch, [.. members.Select(id => new ReplicaMember(id, epoch))], epoch, current.ClusterEpoch, []);
    }

    private static PartitionConfiguration? PlanReplacement(PartitionConfiguration config, SiloPopulation population, Dictionary<ReplicaId, int> load)
    {
        if (HasLostMajority(config, population.IsDead))
        {
            return null;
        }

        // Replace a recovering member first (it holds nothing yet); otherwise only replace when nobody is
        // recovering, because a member that is still copying cannot serve as a source for another newcomer.
        var outgoing = config.Members
            .Where(m => population.IsDead(m.Id) || population.Leaving.Contains(m.Id))
            .OrderByDescending(m => config.IsRecovering(m.Id))
            .ThenByDescending(m => population.IsDead(m.Id))
            .FirstOrDefault();
        if (outgoing is null || (!config.Recovering.IsDefaultOrEmpty && !config.IsRecovering(outgoing.Id)))
        {
            return null;
        }

        var candidates = population.Live.Where(id => !population.Leaving.Contains(id) && !config.Contains(id)).ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        var staying = config.Members.Where(m => m != outgoing).Select(m => m.Id).ToList();
        var incoming = PickSilos(candidates, 1, load, staying, config.Partition)[0];
        var epoch = config.Epoch + 1;
        load.Remove(outgoing.Id);
        var members = config.Members.Replace(outgoing, new ReplicaMember(incoming, epoch));
        var recovering = (config.Recovering.IsDefault ? [] : config.Recovering).Remove(outgoing.Id).Add(incoming);
        return config with { Epoch = epoch, Members = members, Recovering = recovering };
    }

    /// <summary>
    /// Picks <paramref name="count"/> silos, least loaded first, preferring hosts not yet used by
    /// <paramref name="existing"/> or earlier picks; ties broken by a rotation on the partition number.
    /// </summary>
    private static List<ReplicaId> PickSilos(IReadOnlyCollection<ReplicaId> candidates, int count, Dictionary<ReplicaId, int> load, IReadOnlyCollection<ReplicaId> existing, int partition)
    {
        var ordered = candidates.Order().ToList();
        var hosts = new HashSet<string>(existing.Select(e => e.Host));
        var picked = new List<ReplicaId>();
        while (picked.Count < count)
        {
            var best = ordered
                .Where(c => !picked.Contains(c))
                .Select((c, i) => (Id: c, Rank: (i + partition) % ordered.Count))
                .OrderBy(c => hosts.Contains(c.Id.Host) ? 1 : 0)
                .ThenBy(c => load.GetValueOrDefault(c.Id))
                .ThenBy(c => c.Rank)
                .First();
            picked.Add(best.Id);
            hosts.Add(best.Id.Host);
            load[best.Id] = load.GetValueOrDefault(best.Id) + 1;
        }

        return picked;
    }

    private static Dictionary<ReplicaId, int> CountLoad(ClusterMetadata current, IReadOnlyCollection<ReplicaId> live)
    {
        var load = live.ToDictionary(id => id, _ => 0);
        foreach (var p in current.Partitions)
        {
            foreach (var m in p.Members)
            {
                if (load.ContainsKey(m.Id))
                {
                    load[m.Id]++;
                }
            }
        }

        return load;
    }
}
