using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Coordination.TestKit.Simulation;

namespace Coordination.Simulation.Tests.Sim;

/// <summary>How badly the simulated network behaves.</summary>
internal sealed record NetworkFaults(double Loss, double Duplication, TimeSpan MinDelay, TimeSpan MaxDelay)
{
    public static readonly NetworkFaults None = new(0, 0, TimeSpan.FromMicroseconds(50), TimeSpan.FromMicroseconds(50));

    /// <summary>A schedule's network: loss up to <paramref name="maxLoss"/>, duplication up to 10 %, delays from 20 µs to 0.1 + up to <paramref name="maxExtraDelayMicros"/> µs (reordering).</summary>
    public static NetworkFaults Random(Random r, double maxLoss, int maxExtraDelayMicros) => new(
        Loss: r.NextDouble() * maxLoss,
        Duplication: r.NextDouble() * 0.1,
        MinDelay: TimeSpan.FromMicroseconds(20),
        MaxDelay: TimeSpan.FromMicroseconds(100 + r.Next(maxExtraDelayMicros)));
}

/// <summary>
/// The replica network on the shared <see cref="SimKernel"/>: carries replica messages between simulated
/// hosts with random delay (hence reordering), loss and duplication; crashed hosts and cut links drop
/// everything. A lost message leaves the sender waiting until its own timeout, as on a real network.
/// </summary>
internal sealed class SimNetwork(SimKernel sim)
{
    private readonly Dictionary<ReplicaId, ReplicaNode> _nodes = [];
    private readonly HashSet<ReplicaId> _crashed = [];
    private readonly HashSet<(ReplicaId, ReplicaId)> _cut = [];

    public NetworkFaults Faults { get; set; } = NetworkFaults.None;

    public long Sent { get; private set; }

    public long Dropped { get; private set; }

    public void Attach(ReplicaNode node) => _nodes[node.Self] = node;

    /// <summary>The host loses its memory for good; its identity never comes back.</summary>
    public void Crash(ReplicaId id)
    {
        _crashed.Add(id);
        if (_nodes.Remove(id, out var node))
        {
            node.Stop();
        }
    }

    public bool IsCrashed(ReplicaId id) => _crashed.Contains(id);

    public void Cut(ReplicaId a, ReplicaId b)
    {
        _cut.Add((a, b));
        _cut.Add((b, a));
    }

    public void HealAll() => _cut.Clear();

    public IReplicaTransport TransportFor(ReplicaId from) => new Transport(this, from);

    private Task<T> Deliver<T>(ReplicaId from, ReplicaId to, Func<ReplicaNode, T> handle) where T : class
    {
        var reply = new TaskCompletionSource<T>();
        var copies = sim.Random.NextDouble() < Faults.Duplication ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            Sent++;
            if (!Passes(from, to))
            {
                Dropped++;
                continue;
            }

            sim.Schedule(Delay(), () =>
            {
                if (!_nodes.TryGetValue(to, out var node) || _crashed.Contains(from))
                {
                    Dropped++;
                    return;
                }

                var answer = handle(node);
                if (!Passes(to, from))
                {
                    Dropped++;
                    return;
                }

                sim.Schedule(Delay(), () =>
                {
                    if (!_crashed.Contains(from))
                    {
                        reply.TrySetResult(answer);
                    }
                });
            });
        }

        return reply.Task;
    }

    private bool Passes(ReplicaId from, ReplicaId to) =>
        !_crashed.Contains(from) && !_crashed.Contains(to) && !_cut.Contains((from, to)) && sim.Random.NextDouble() >= Faults.Loss;

    private TimeSpan Delay() =>
        Faults.MinDelay + TimeSpan.FromTicks((long)(sim.Random.NextDouble() * (Faults.MaxDelay - Faults.MinDelay).Ticks));

    private sealed class Transport(SimNetwork net, ReplicaId from) : IReplicaTransport
    {
        public ReplicaId? Self => from;

        public Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request, CancellationToken cancellationToken) =>
            net.Deliver(from, target, n => n.Handle(request));

        public Task<SnapshotReply> SnapshotAsync(ReplicaId target, SnapshotRequest request, CancellationToken cancellationToken) =>
            net.Deliver(from, target, n => n.Snapshot(request));

        public Task AdoptAsync(ReplicaId target, PartitionConfiguration configuration, CancellationToken cancellationToken) =>
            net.Deliver(from, target, n =>
            {
                n.Adopt(configuration);
                return string.Empty;
            });
    }
}
