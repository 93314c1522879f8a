using Coordination.Replication.Configuration;

namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>
/// What each failover case starts from: a fresh cluster of its own (the case destroys silos) and session A
/// holding one lock. The sessions a case opens, the waiters it queues and the silos it kills are kept here,
/// so that the checks after the fault can use them.
/// </summary>
internal sealed class HeldLock : IAsyncDisposable
{
    private readonly List<TestSession> _sessions = [];

    private HeldLock(CoordinationCluster cluster, string name, TestSession a, Guid requestId, long token, PartitionConfiguration configuration)
    {
        Cluster = cluster;
        Name = name;
        A = a;
        RequestId = requestId;
        Token = token;
        Configuration = configuration;
        _sessions.Add(a);
    }

    public CoordinationCluster Cluster { get; }

    public IGrainFactory Grains => Cluster.Grains;

    public string Name { get; }

    public ILockGrain Lock => Grains.Lock(Name);

    /// <summary>The holder's session, kept alive until a case stops it.</summary>
    public TestSession A { get; }

    public Guid RequestId { get; }

    public long Token { get; }

    /// <summary>The lock's holder as the grain reports it (no owner).</summary>
    public LockHolder Holder => new(A.Info.Tag, RequestId, Token, null);

    /// <summary>The configuration of the lock's partition when the lock was granted.</summary>
    public PartitionConfiguration Configuration { get; }

    /// <summary>Acquires queued behind the holder, in queue order.</summary>
    public List<(TestSession Session, Guid RequestId, Task<long> Grant)> Waiters { get; } = [];

    public List<SiloAddress> Killed { get; } = [];

    public static async Task<HeldLock> StartAsync(short silos = 4, int partitions = 8, int replicationFactor = 3, TimeSpan lockDelay = default)
    {
        var cluster = await CoordinationCluster.StartAsync(silos, partitions, replicationFactor);
        var name = $"failover/{Guid.NewGuid():N}";
        var a = await TestSession.OpenAsync(cluster.Grains);
        var requestId = Guid.NewGuid();
        var token = await cluster.Grains.AcquireAsync(name, a.Id, requestId, TimeSpan.FromSeconds(10), lockDelay: lockDelay);
        return new HeldLock(cluster, name, a, requestId, token, await cluster.ConfigurationOfLockAsync(name));
    }

    public async Task<TestSession> OpenSessionAsync()
    {
        var session = await TestSession.OpenAsync(Grains);
        _sessions.Add(session);
        return session;
    }

    /// <summary>Queues <paramref name="count"/> acquires of new sessions behind the holder, one after the other.</summary>
    public async Task QueueAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var session = await OpenSessionAsync();
            var requestId = Guid.NewGuid();
            Waiters.Add((session, requestId, Grains.AcquireAsync(Name, session.Id, requestId, TimeSpan.FromSeconds(60))));
            await Grains.WaitForWaitersAsync(Name, Waiters.Count, $"waiter {Waiters.Count} queued");
        }
    }

    public async Task KillHostOfAsync(IAddressable grain) => await KillAsync(await Cluster.HostOfAsync(grain));

    public async Task KillAsync(SiloAddress silo)
    {
        await Cluster.Cluster.KillSiloAsync(Cluster.Silo(silo));
        Killed.Add(silo);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var session in _sessions)
        {
            await session.DisposeAsync();
        }

        await Cluster.DisposeAsync();
    }
}
