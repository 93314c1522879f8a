using Coordination.Grains.Leases;
using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Coordination.TestKit.Simulation;

namespace Coordination.Simulation.Tests.Sim;

/// <summary>Which parts of the protocol run broken on purpose (to prove the checks catch them).</summary>
internal sealed record Breakage(bool EmptyReplicaVotes = false, bool ReuseBallot = false, bool SkipReread = false)
{
    public static readonly Breakage None = new();
}

/// <summary>
/// Replica nodes, a configuration master (the in-memory metadata store), proposers with their own,
/// possibly stale, view of the configuration, and a nemesis that crashes and replaces replicas, all on
/// one <see cref="SimNetwork"/> over one <see cref="SimKernel"/>.
/// </summary>
internal sealed class SimCluster
{
    public const string Key = "l/the-lock";
    private static readonly AuditEntry Created = new(DateTimeOffset.UnixEpoch, "sim", "create", "simulation", 1, []);
    private readonly Dictionary<ReplicaId, ReplicaNode> _nodes = [];
    private readonly ReplicaNodeOptions _nodeOptions;
    private readonly ProposerOptions _proposerOptions;

    /// <summary>One hedge timer for every proposer of the cluster, as a silo's proposers share theirs.</summary>
    private readonly HedgeTimer? _hedges;
    private readonly ReplicationFaults _faults;
    private int _nextNode;
    private int _nextProposer;

    /// <param name="adjustFaults">Further broken decisions, for the replicas and proposers alike (controls of newer checks).</param>
    /// <param name="everyMemberAtOnce">Rounds ask every member at once instead of a majority first (thrifty rounds, the default).</param>
    internal SimCluster(int seed, Breakage? breakage = null, int replicas = 3, Func<ReplicationFaults, ReplicationFaults>? adjustFaults = null, bool everyMemberAtOnce = false)
    {
        var broken = breakage ?? Breakage.None;
        Sim = new SimKernel(seed);
        Net = new SimNetwork(Sim);
        _nodeOptions = new ReplicaNodeOptions
        {
            RecoveryBackoff = TimeSpan.FromMilliseconds(2),
            MaxRecoveryBackoff = TimeSpan.FromMilliseconds(20),
            SnapshotTimeout = TimeSpan.FromMilliseconds(30),
        };
        _proposerOptions = new ProposerOptions
        {
            RoundTimeout = TimeSpan.FromMilliseconds(20),
            OperationTimeout = TimeSpan.FromMilliseconds(150),
            MaxConflictBackoff = TimeSpan.FromMilliseconds(3),
            HedgeDelay = everyMemberAtOnce ? null : new ProposerOptions().HedgeDelay,
        };
        _hedges = _proposerOptions.HedgeDelay is { } delay ? new HedgeTimer(Sim.Clock, delay) : null;
        _faults = new ReplicationFaults
        {
            VoteWithoutRecovery = broken.EmptyReplicaVotes,
            ReuseBallotAfterFailedAccept = broken.ReuseBallot,
            RetryWithoutReread = broken.SkipReread,
        };
        _faults = adjustFaults?.Invoke(_faults) ?? _faults;
        for (var i = 0; i < replicas; i++)
        {
            AddNode();
        }

        var metadata = ClusterMetadata.Create(1, replicas, Created);
        Store.TryWriteAsync(0, metadata).GetAwaiter().GetResult();
        var assigned = ConfigurationPlanner.Plan(metadata, Population())!;
        Store.TryWriteAsync(metadata.Version, assigned).GetAwaiter().GetResult();
        foreach (var node in _nodes.Values)
        {
            node.Adopt(assigned.Partitions[0]);
        }
    }

    public SimKernel Sim { get; }

    public SimNetwork Net { get; }

    public InMemoryClusterMetadataStore Store { get; } = new();

    public IReadOnlyCollection<ReplicaNode> Nodes => _nodes.Values;

    /// <summary>The network identities of the proposers (for cutting their links).</summary>
    public List<ReplicaId> ProposerHosts { get; } = [];

    public PartitionConfiguration Configuration => Store.ReadAsync().GetAwaiter().GetResult()!.Partitions[0];

    public ReplicaNode AddNode()
    {
        var id = new ReplicaId($"10.0.{_nextNode / 250}.{_nextNode % 250 + 1}:1@1");
        _nextNode++;
        var node = new ReplicaNode(id, Net.TransportFor(id), Store, Sim.Clock, _faults, _nodeOptions, logger: null, background: Sim.Scheduler);
        _nodes[id] = node;
        Net.Attach(node);
        KeepRefreshing(node);
        return node;
    }

    public RegisterProposer<LockRecord> NewProposer() => NewProposer<LockRecord>();

    /// <summary>
    /// A proposer for the simulated key holding values of any type (a new activation, on its own network host,
    /// <see cref="ProposerHosts"/>' last entry), with the cluster's breakage or <paramref name="adjust"/>ed one.
    /// </summary>
    internal RegisterProposer<TValue> NewProposer<TValue>(Func<ReplicationFaults, ReplicationFaults>? adjust = null)
        where TValue : class
    {
        var id = new ReplicaId($"proposer-{++_nextProposer}");
        ProposerHosts.Add(id);
        var faults = adjust is null ? _faults : adjust(_faults);
        return new RegisterProposer<TValue>(Key, new SimDirectory(this), Net.TransportFor(id), Sim.Clock, _proposerOptions, faults, proposerId: Sim.Random.NextInt64(1, long.MaxValue), Sim.Random, hedges: _hedges);
    }

    public void Crash(ReplicaId id)
    {
        Net.Crash(id);
        _nodes.Remove(id);
    }

    /// <summary>The nemesis: crash one member, start a fresh silo, and let the planner replace the dead member with it.</summary>
    public ReplicaNode CrashAndReplace(ReplicaId victim)
    {
        Crash(victim);
        var fresh = AddNode();
        var metadata = Store.ReadAsync().GetAwaiter().GetResult()!;
        var next = ConfigurationPlanner.Plan(metadata, Population()) ?? throw new InvalidOperationException($"No plan to replace {victim} in {metadata.Partitions[0]}.");
        if (!Store.TryWriteAsync(metadata.Version, next).GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("The metadata changed under the nemesis.");
        }

        return fresh;
    }

    public bool AllMembersActive()
    {
        var config = Configuration;
        return config.Members.All(m => _nodes.TryGetValue(m.Id, out var n) && n.Partition(0).Role == ReplicaRole.Active && n.Partition(0).Configuration.Epoch == config.Epoch);
    }

    public SiloPopulation Population() =>
        new([.. _nodes.Keys], Configuration_Members_Dead(), new HashSet<ReplicaId>());

    private HashSet<ReplicaId> Configuration_Members_Dead()
    {
        var metadata = Store.ReadAsync().GetAwaiter().GetResult();
        return metadata is null ? [] : [.. metadata.Partitions.SelectMany(p => p.Members).Select(m => m.Id).Where(Net.IsCrashed)];
    }

    /// <summary>Each replica re-reads the configuration master every few virtual milliseconds, like the silo's refresh loop.</summary>
    private void KeepRefreshing(ReplicaNode node)
    {
        void Refresh()
        {
            if (!_nodes.ContainsKey(node.Self))
            {
                return;
            }

            var metadata = Store.ReadAsync().GetAwaiter().GetResult();
            if (metadata is not null && metadata.Partitions[0].IsAssigned)
            {
                node.Adopt(metadata.Partitions[0]);
            }

            Sim.Schedule(TimeSpan.FromMilliseconds(2 + Sim.Random.Next(10)), Refresh);
        }

        Sim.Schedule(TimeSpan.FromMilliseconds(Sim.Random.Next(5)), Refresh);
    }

    /// <summary>A proposer's view of the configuration: stale until it is told to refresh.</summary>
    private sealed class SimDirectory(SimCluster cluster) : IPartitionDirectory
    {
        private PartitionConfiguration _known = cluster.Configuration;

        public int PartitionCount => 1;

        public PartitionConfiguration Get(int partition) => _known;

        public Task<PartitionConfiguration> RefreshAsync(int partition, long seenEpoch, CancellationToken cancellationToken)
        {
            _known = cluster.Configuration;
            return Task.FromResult(_known);
        }

        public bool IsDead(ReplicaId replica) => cluster.Net.IsCrashed(replica);
    }
}
