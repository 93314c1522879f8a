using System.Text.Json;
using Coordination.Replication.Configuration;
using Coordination.Silo.LocalClustering;
using StackExchange.Redis;

namespace Coordination.Silo.RedisClustering;

/// <summary>
/// Cluster metadata in Redis, for clusters that span machines: the version and the document live under
/// two keys, and compare-and-swap is one Lua script, so it is atomic on the Redis server. It is as
/// durable and linearizable as that Redis deployment (run it with persistence and without failover
/// between replicas that could lose acknowledged writes).
/// </summary>
/// <remarks>
/// Keyed by service id, not cluster id, on purpose: the cluster epoch (the high bits of every fencing token)
/// must only grow for a service, whichever cluster of it runs. A new cluster of the same service (a blue/green
/// deployment) finds the old one's placement, sees its silos gone, and needs an audited re-initialisation,
/// which bumps the epoch; running two clusters of one service at once on one Redis is not supported.
/// </remarks>
internal sealed class RedisClusterMetadataStore(IConnectionMultiplexer redis, string serviceId) : IClusterMetadataStore
{
    private const string CompareAndSwap = """
        local current = redis.call('GET', KEYS[1])
        if (current == false and ARGV[1] == '0') or current == ARGV[1] then
          redis.call('SET', KEYS[2], ARGV[3])
          redis.call('SET', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """;

    // One hash tag, so both keys live in one slot and the script also runs on Redis Cluster.
    private readonly RedisKey _versionKey = $"{{coordination:{serviceId}}}:metadata:version";
    private readonly RedisKey _documentKey = $"{{coordination:{serviceId}}}:metadata";

    public async Task<ClusterMetadata?> ReadAsync(CancellationToken cancellationToken = default)
    {
        var document = await redis.GetDatabase().StringGetAsync(_documentKey);
        return document.IsNullOrEmpty ? null : JsonSerializer.Deserialize<ClusterMetadata>((string)document!, FileClusterMetadataStore.Json);
    }

    public async Task<bool> TryWriteAsync(long expectedVersion, ClusterMetadata next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.Version <= expectedVersion)
        {
            throw new ArgumentException($"A write must raise the version (expected {expectedVersion}, new {next.Version}).", nameof(next));
        }

        var result = await redis.GetDatabase().ScriptEvaluateAsync(
            CompareAndSwap,
            [_versionKey, _documentKey],
            [expectedVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), next.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), JsonSerializer.Serialize(next, FileClusterMetadataStore.Json)]);
        return (int)result == 1;
    }
}
