using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Client;
using Coordination.TestKit;
using Google.Protobuf;
using Medallion.Threading.Postgres;
using Medallion.Threading.Redis;
using StackExchange.Redis;

namespace Coordination.Benchmarks;

/// <summary>A lock service under measurement.</summary>
internal interface ILockBackend : IAsyncDisposable
{
    string Name { get; }

    /// <summary>One client identity (a session, a lease, a connection) that takes locks.</summary>
    Task<IContender> NewContenderAsync();

    /// <summary>What the server side has spent so far; read before and after a measured run, the difference is its cost.</summary>
    Task<ServerCost> CostAsync();
}

/// <summary>
/// Server CPU time (user + system, from /proc) and, for ours, the Orleans messages the silos counted: between a
/// client and its gateway silo, and between silos (each counted once, by its sender).
/// </summary>
/// <param name="AllocatedBytes">Ours: bytes the silos' managed code allocated (GC.GetTotalAllocatedBytes, summed).</param>
internal sealed record ServerCost(TimeSpan Cpu, long? ClientMessages = null, long? SiloMessages = null, long? AllocatedBytes = null)
{
    public static ServerCost operator -(ServerCost after, ServerCost before) =>
        new(after.Cpu - before.Cpu, after.ClientMessages - before.ClientMessages, after.SiloMessages - before.SiloMessages, after.AllocatedBytes - before.AllocatedBytes);
}

internal interface IContender : IAsyncDisposable
{
    Task<IAsyncDisposable> AcquireAsync(string lockName);
}

/// <summary>
/// Ours: a client in this process (the silos are processes of their own), each contender an explicit session of
/// the local cluster. Its server cost is the silo processes' CPU (not the launcher's: it supervises and hosts the
/// dashboard, outside the request path) and the messages each silo counts (its /api/metrics "orleans.messages").
/// </summary>
internal sealed class CoordinationBackend(TestClusterClient client, LocalClusterProcess cluster) : ILockBackend
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public string Name => "Coordination (3 silo processes, N=3, majority 2)";

    public async Task<IContender> NewContenderAsync() => new Contender(await client.Coordination.OpenSessionAsync(TimeSpan.FromSeconds(15)));

    public async Task<ServerCost> CostAsync()
    {
        var silos = await cluster.SilosAsync();
        long clientMessages = 0;
        long siloMessages = 0;
        long allocated = 0;
        foreach (var (index, _, _) in silos)
        {
            var metrics = await MetricsAsync(index, percentiles: false);
            var messages = metrics.GetProperty("orleans.messages");
            clientMessages += messages.GetProperty("toClients").GetInt64() + messages.GetProperty("fromClients").GetInt64();
            siloMessages += messages.GetProperty("siloToSiloSent").GetInt64();
            allocated += metrics.GetProperty("runtime.gc").GetProperty("allocatedBytes").GetInt64();
        }

        return new ServerCost(ProcessCpu.OfTrees(silos.Select(s => s.Pid).OfType<int>()), clientMessages, siloMessages, allocated);
    }

    /// <summary>One silo's /api/metrics; without <paramref name="percentiles"/> (what is read around each timed part) the silo sorts no histogram window for it.</summary>
    public Task<JsonElement> MetricsAsync(int silo, bool percentiles = true) =>
        _http.GetFromJsonAsync<JsonElement>(MetricsUri(silo, percentiles ? string.Empty : "?percentiles=false"));

    /// <summary>Starts every silo's metrics over, message counts too: between measurements, never inside one.</summary>
    public async Task ResetMetricsAsync(CancellationToken cancellationToken)
    {
        foreach (var (index, _, _) in await cluster.SilosAsync())
        {
            using var reset = await _http.PostAsync(MetricsUri(index, "/reset"), null, cancellationToken);
            reset.EnsureSuccessStatusCode();
        }
    }

    private Uri MetricsUri(int silo, string path) => new($"http://127.0.0.1:{cluster.HealthPortBase + silo}/api/metrics{path}");

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Contender(CoordinationSession session) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName) => await session.CreateLock(lockName).AcquireAsync(TimeSpan.FromSeconds(60));

        public ValueTask DisposeAsync() => session.DisposeAsync();
    }
}

/// <summary>Redis 7 through DistributedLock.Redis (single server, unreplicated).</summary>
internal sealed class RedisBackend(ConnectionMultiplexer redis, PeerServer server) : ILockBackend
{
    public string Name => "Redis (DistributedLock.Redis)";

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(redis.GetDatabase()));

    public Task<ServerCost> CostAsync() => Task.FromResult(server.Cost());

    public async ValueTask DisposeAsync()
    {
        await redis.DisposeAsync();
        await server.DisposeAsync();
    }

    private sealed class Contender(IDatabase db) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName) => await new RedisDistributedLock(lockName, db).AcquireAsync(TimeSpan.FromSeconds(60));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// etcd 3.4 v3lock with a lease per contender (TTL 10 s, kept alive), through dotnet-etcd; one member, or a
/// cluster of members on loopback (the replicated peer, like us) with the client given every member's endpoint.
/// </summary>
internal sealed class EtcdBackend(dotnet_etcd.EtcdClient etcd, string endpoint, int members, PeerServer server) : ILockBackend
{
    /// <summary>The first member's client URL.</summary>
    public string Endpoint => endpoint;

    public int Members => members;

    public string Name => members == 1 ? "etcd (v3lock + lease, dotnet-etcd)" : $"etcd × {members} members (v3lock + lease, dotnet-etcd)";

    public Task<ServerCost> CostAsync() => Task.FromResult(server.Cost());

    public async Task<IContender> NewContenderAsync()
    {
        var lease = await etcd.LeaseGrantAsync(new Etcdserverpb.LeaseGrantRequest { TTL = 10 });
        var stop = new CancellationTokenSource();
        var keepAlive = etcd.LeaseKeepAlive(lease.ID, stop.Token);
        return new Contender(etcd, lease.ID, stop, keepAlive);
    }

    public async ValueTask DisposeAsync()
    {
        etcd.Dispose();
        await server.DisposeAsync();
    }

    private sealed class Contender(dotnet_etcd.EtcdClient etcd, long lease, CancellationTokenSource stop, Task keepAlive) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName)
        {
            var held = await etcd.LockAsync(lockName, lease);
            return new Held(etcd, held.Key);
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            try
            {
                await keepAlive;
            }
            catch (Exception)
            {
                // Cancelled.
            }

            stop.Dispose();
        }
    }

    private sealed class Held(dotnet_etcd.EtcdClient etcd, ByteString key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await etcd.UnlockAsync(key.ToStringUtf8());
    }
}

/// <summary>PostgreSQL 15 advisory locks through DistributedLock.Postgres (a lock lives as long as its connection).</summary>
internal sealed class PostgresBackend(string connectionString, PeerServer server) : ILockBackend
{
    public string Name => "PostgreSQL (DistributedLock.Postgres)";

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(connectionString));

    public Task<ServerCost> CostAsync() => Task.FromResult(server.Cost());

    public ValueTask DisposeAsync() => server.DisposeAsync();

    private sealed class Contender(string connectionString) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName) =>
            await new PostgresDistributedLock(new PostgresAdvisoryLockKey(lockName, allowHashing: true), connectionString).AcquireAsync(TimeSpan.FromSeconds(60));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
