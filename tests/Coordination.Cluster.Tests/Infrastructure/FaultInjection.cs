using System.Collections.Concurrent;
using Coordination.Grains.Lanes;
using Coordination.Lanes;
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

/// <summary>Loses the silos' client lane replies to chosen lock calls after their grain calls ran, as a dropped response would.</summary>
public sealed class LaneReplyDropper : ILaneFaults
{
    private int _lost;

    /// <summary>Acquires of this lock lose their replies until cleared (null).</summary>
    public string? DropAcquiresOf { get; set; }

    /// <summary>Replies lost so far.</summary>
    public int Lost => Volatile.Read(ref _lost);

    bool ILaneFaults.LosesReplyTo(LaneCall call)
    {
        if (call.Acquire is null || call.Name != DropAcquiresOf)
        {
            return false;
        }

        Interlocked.Increment(ref _lost);
        return true;
    }
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

    private (string Method, string Key, TimeSpan Delay)? _slow;
    private int _slowState;

    /// <summary>
    /// The next call of <paramref name="method"/> to the grain keyed <paramref name="key"/> is handled by the grain but
    /// its reply reaches the caller only after <paramref name="delay"/>; every later call of it is lost before it
    /// reaches the grain. Cleared by <see cref="ClearSlow"/>.
    /// </summary>
    public void DelayOnceThenBlock(string method, string key, TimeSpan delay)
    {
        _slowState = 0;
        _slow = (method, key, delay);
    }

    public void ClearSlow() => _slow = null;

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        if (_slow is { } slow && context.MethodName == slow.Method && context.TargetId.Key.ToString() == slow.Key)
        {
            if (Interlocked.CompareExchange(ref _slowState, 1, 0) != 0)
            {
                throw new TimeoutException($"Test fault: {context.MethodName} is lost before it reaches the grain.");
            }

            await context.Invoke();
            await Task.Delay(slow.Delay);
            return;
        }

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
