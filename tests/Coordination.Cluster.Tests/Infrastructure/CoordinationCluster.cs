using Coordination.Grains.Hosting;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>
/// An in-process Orleans cluster running the coordination service, with test timings (1 s failure
/// detection, so TTLs from 2.25 s are accepted), one shared metadata store and fault hooks.
/// </summary>
public sealed class CoordinationCluster : IAsyncDisposable
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    private CoordinationCluster(InProcessTestCluster cluster, InMemoryClusterMetadataStore store, ReplicaPartitions partitions, ReplyDropper dropper)
    {
        Cluster = cluster;
        Store = store;
        Partitions = partitions;
        Dropper = dropper;
    }

    public InProcessTestCluster Cluster { get; }

    public InMemoryClusterMetadataStore Store { get; }

    public ReplicaPartitions Partitions { get; }

    public ReplyDropper Dropper { get; }

    /// <summary>Every silo's client lane faults.</summary>
    public LaneReplyDropper LaneFaults { get; private init; } = new();

    public IClusterClient Client => Cluster.Client;

    public IGrainFactory Grains => Cluster.Client;

    public static async Task<CoordinationCluster> StartAsync(short silos = 4, int partitions = 8, int replicationFactor = 3)
    {
        var store = new InMemoryClusterMetadataStore();
        var faults = new ReplicaPartitions();
        var dropper = new ReplyDropper();
        var laneFaults = new LaneReplyDropper();
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton<IClusterMetadataStore>(store);
            silo.Services.AddSingleton<IReplicaTrafficFilter>(faults);
            silo.Services.AddSingleton<Coordination.Grains.Lanes.ILaneFaults>(laneFaults);
            silo.Services.Configure<ClusterMembershipOptions>(o =>
            {
                o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
            });
            silo.AddCoordination(
                o =>
                {
                    o.FailureDetectionTime = TimeSpan.FromSeconds(1);
                    o.SafetyMargin = TimeSpan.FromMilliseconds(500);
                    o.IdleRetention = TimeSpan.FromSeconds(1);
                },
                r =>
                {
                    r.PartitionCount = partitions;
                    r.ReplicationFactor = replicationFactor;
                    // The service's default. At 500 ms, a stall of the test process (four silos and their clients
                    // in one Debug process on two cores) now and then left a round without its majority in time, and
                    // a round that heard only silence fails its operation at once (FailedRoundPolicy).
                    r.RoundTimeout = TimeSpan.FromSeconds(1);
                    r.OperationTimeout = TimeSpan.FromSeconds(3);
                    r.MetadataRefreshInterval = TimeSpan.FromMilliseconds(250);
                    r.PlannerInterval = TimeSpan.FromMilliseconds(250);
                    r.DrainTimeout = TimeSpan.FromSeconds(3);
                });
        });
        builder.ConfigureClient(client => client.Services.AddSingleton<IOutgoingGrainCallFilter>(dropper));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        var c = new CoordinationCluster(cluster, store, faults, dropper) { LaneFaults = laneFaults };
        await c.WaitForAllPartitionsAsync();
        return c;
    }

    public async Task<ClusterMetadata> MetadataAsync() => (await Store.ReadAsync())!;

    /// <summary>Waits until every partition has its full set of replicas and none is recovering.</summary>
    public async Task WaitForAllPartitionsAsync(TimeSpan? timeout = null)
    {
        await Eventually.Async(async () =>
        {
            var m = await Store.ReadAsync();
            return m is not null && m.Partitions.All(p => p.IsAssigned && p.Recovering.IsDefaultOrEmpty);
        }, timeout ?? TimeSpan.FromSeconds(20), "every partition assigned with its replicas caught up");
    }

    public async Task<SiloAddress> HostOfAsync(IAddressable grain)
    {
        var management = Grains.GetGrain<IManagementGrain>(0);
        return await management.GetActivationAddress(grain) ?? throw new InvalidOperationException($"{grain} is not active anywhere");
    }

    public InProcessSiloHandle Silo(SiloAddress address) =>
        Cluster.GetSiloForAddress(address) ?? throw new InvalidOperationException($"No silo at {address}");

    public async Task<PartitionConfiguration> ConfigurationOfLockAsync(string lockName)
    {
        var m = await MetadataAsync();
        return m.Partitions[Partitioner.PartitionOf("l/" + lockName, m.PartitionCount)];
    }

    public async ValueTask DisposeAsync()
    {
        Partitions.HealAll();
        await Cluster.DisposeAsync();
    }
}
