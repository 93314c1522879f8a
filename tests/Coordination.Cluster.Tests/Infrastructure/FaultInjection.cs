using System.Collections.Concurrent;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;

namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>Cuts replica traffic to and from chosen silos, as a partition or a paused process would.</summary>
public sealed class ReplicaPartitions : IReplicaTrafficFilter
{
    private readonly ConcurrentDictionary<string, bool> _isolated = new();

    public bool Allows(ReplicaId from, ReplicaId to) => !_isolated.ContainsKey(from.Value) && !_isolated.ContainsKey(to.Value);

    public void Isolate(string replica) => _isolated[replica] = true;

    public void HealAll() => _isolated.Clear();
}

/// <summary>A client-side call filter that lets chosen calls reach the grain but loses their reply, as a dropped response would.</summary>
public sealed class ReplyDropper : IOutgoingGrainCallFilter
{
    private int _dropNext;

    public string? Method { get; set; }

    /// <summary>Drops every reply of this method until cleared (null).</summary>
    public string? DropAll { get; set; }

    /// <summary>With <see cref="DropAll"/>: only for calls to the grain with this key (null: every grain).</summary>
    public string? DropAllFor { get; set; }

    public void DropNextReply(string method)
    {
        Method = method;
        Interlocked.Exchange(ref _dropNext, 1);
    }

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        await context.Invoke();
        if (context.MethodName == DropAll && (DropAllFor is null || context.TargetId.Key.ToString() == DropAllFor))
        {
            throw new TimeoutException($"Test fault: every reply of {context.MethodName} is dropped.");
        }

        if (context.MethodName == Method && Interlocked.Exchange(ref _dropNext, 0) == 1)
        {
            throw new TimeoutException($"Test fault: the reply of {context.MethodName} was dropped after the grain handled it.");
        }
    }
}
