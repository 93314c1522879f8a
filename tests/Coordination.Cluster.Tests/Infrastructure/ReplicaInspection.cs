using Coordination.Grains.Leases;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>Reads replica state straight out of each silo's replica store, bypassing the protocol.</summary>
internal static class ReplicaInspection
{
    /// <summary>For each live silo that holds an active replica of the lock's partition: the lock record it has accepted.</summary>
    public static async Task<List<(string Replica, LockRecord? Record)>> LockReplicasAsync(this CoordinationCluster cluster, string lockName)
    {
        var config = await cluster.ConfigurationOfLockAsync(lockName);
        var result = new List<(string, LockRecord?)>();
        foreach (var silo in cluster.Cluster.GetActiveSilos())
        {
            var node = cluster.Cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<ReplicaNode>();
            var replica = node.Partition(config.Partition);
            if (replica.Role != ReplicaRole.Active)
            {
                continue;
            }

            var slot = replica.CopySlots().FirstOrDefault(kv => kv.Key == "l/" + lockName);
            result.Add((node.Self.Value, slot.Value?.Value as LockRecord));
        }

        return result;
    }

    /// <summary>Every register slot every live silo keeps in its active replicas (key and value), for bounded-state checks.</summary>
    public static List<(string Replica, string Key, object? Value)> AllSlots(this CoordinationCluster cluster)
    {
        var result = new List<(string, string, object?)>();
        foreach (var silo in cluster.Cluster.GetActiveSilos())
        {
            var node = cluster.Cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<ReplicaNode>();
            foreach (var replica in node.Partitions.Where(r => r.Role == ReplicaRole.Active))
            {
                result.AddRange(replica.CopySlots().Select(kv => (node.Self.Value, kv.Key, kv.Value.Value)));
            }
        }

        return result;
    }

    /// <summary>
    /// Per register key, the value of the highest ballot any live replica accepted: the register's newest value. A
    /// replica a thrifty round left out holds an older one, so a check of what a register says reads this.
    /// </summary>
    public static List<(string Key, object? Value)> NewestValues(this CoordinationCluster cluster)
    {
        var slots = new List<(string Key, Replication.Protocol.RegisterSlot Slot)>();
        foreach (var silo in cluster.Cluster.GetActiveSilos())
        {
            var node = cluster.Cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<ReplicaNode>();
            foreach (var replica in node.Partitions.Where(r => r.Role == ReplicaRole.Active))
            {
                slots.AddRange(replica.CopySlots().Select(kv => (kv.Key, kv.Value)));
            }
        }

        return [.. slots.GroupBy(s => s.Key).Select(g => (g.Key, g.MaxBy(s => s.Slot.Accepted).Slot.Value))];
    }
}
