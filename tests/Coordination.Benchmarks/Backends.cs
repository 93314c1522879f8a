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
}

internal interface IContender : IAsyncDisposable
{
    Task<IAsyncDisposable> AcquireAsync(string lockName);
}

/// <summary>Ours: a client in this process, each contender an explicit session of the local cluster.</summary>
internal sealed class CoordinationBackend(TestClusterClient client) : ILockBackend
{
    public string Name => "Coordination (3 silo processes, N=3, majority 2)";

    public async Task<IContender> NewContenderAsync() => new Contender(await client.Coordination.OpenSessionAsync(TimeSpan.FromSeconds(15)));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Contender(CoordinationSession session) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName) => await session.CreateLock(lockName).AcquireAsync(TimeSpan.FromSeconds(60));

        public ValueTask DisposeAsync() => session.DisposeAsync();
    }
}

/// <summary>Redis 7 through DistributedLock.Redis (single server, unreplicated).</summary>
internal sealed class RedisBackend(ConnectionMultiplexer redis, ChildProcess server) : ILockBackend
{
    public string Name => "Redis (DistributedLock.Redis)";

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(redis.GetDatabase()));

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

/// <summary>etcd 3.4 v3lock with a lease per contender (TTL 10 s, kept alive), through dotnet-etcd.</summary>
internal sealed class EtcdBackend(dotnet_etcd.EtcdClient etcd, string endpoint, ChildProcess server) : ILockBackend
{
    public string Endpoint => endpoint;

    public string Name => "etcd (v3lock + lease, dotnet-etcd)";

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
internal sealed class PostgresBackend(string connectionString, IAsyncDisposable server) : ILockBackend
{
    public string Name => "PostgreSQL (DistributedLock.Postgres)";

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(connectionString));

    public ValueTask DisposeAsync() => server.DisposeAsync();

    private sealed class Contender(string connectionString) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName) =>
            await new PostgresDistributedLock(new PostgresAdvisoryLockKey(lockName, allowHashing: true), connectionString).AcquireAsync(TimeSpan.FromSeconds(60));

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
