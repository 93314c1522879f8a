using Coordination.Grains.Hosting;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Replicas;
using Orleans.Concurrency;

namespace Coordination.Grains.Admin;

/// <summary>
/// Operator listings, a page at a time: the names come from every partition's replicas (a majority of each must
/// answer, or the page would silently miss names), then each lock or session is read through its own grain, so
/// what a page shows is current. Bounded by the page: nothing is listed in full anywhere.
/// </summary>
[StatelessWorker]
internal sealed class ClusterListingGrain(MetadataDirectory directory, OrleansReplicaTransport transport, TimeProvider time) : Grain, IClusterListingGrain
{
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(2);

    public async Task<LockListing> ListLocks(string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Lock(string.Empty), after, limit, KeyOrder.ByName);
        var infos = await Task.WhenAll(keys.Select(key => GrainFactory.GetGrain<ILockGrain>(RegisterKeys.NameOf(key)).GetInfo()));
        return new LockListing([.. infos.Where(i => i.Holder is not null || !i.Waiters.IsDefaultOrEmpty)], next);
    }

    public async Task<SessionListing> ListSessions(string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Session(string.Empty), after, limit, KeyOrder.TopLevelByHash);
        var infos = await Task.WhenAll(keys.Select(async key =>
        {
            try
            {
                return await GrainFactory.GetGrain<ISessionGrain>(RegisterKeys.NameOf(key)).GetInfo();
            }
            catch (SessionNotFoundException)
            {
                return null;
            }
        }));
        return new SessionListing([.. infos.OfType<SessionInfo>().Select(i => new SessionSummary(i.Tag, i.Ttl, i.Status, i.Holdings))], next);
    }

    /// <summary>The first <paramref name="limit"/> register keys after the cursor over all partitions, and the cursor of the next page.</summary>
    private async Task<(List<string> Keys, string? Next)> PageAsync(string prefix, string? after, int limit, KeyOrder order)
    {
        if (limit is < 1 or > KeyPages.MaxLimit)
        {
            throw new CoordinationArgumentException(nameof(limit), $"a page holds 1 to {KeyPages.MaxLimit} entries, not {limit}");
        }

        var request = (int partition) => new KeyPageRequest(partition, prefix, after ?? string.Empty, limit, order);
        var pages = await Task.WhenAll(directory.Current.Partitions.Where(p => p.IsAssigned).Select(p => PartitionPageAsync(p, request(p.Partition))));
        var merged = pages.SelectMany(p => p).DistinctBy(k => k.Key).OrderBy(k => k.Key, StringComparer.Ordinal).Take(limit).ToList();
        return ([.. merged.Select(k => k.Value)], merged.Count == limit ? merged[^1].Key : null);
    }

    /// <summary>The union of the pages of every member that answers; a majority of active members must.</summary>
    private async Task<IEnumerable<KeyValuePair<string, string>>> PartitionPageAsync(PartitionConfiguration partition, KeyPageRequest request)
    {
        var answers = await Task.WhenAll(partition.Members.Where(m => !directory.IsDead(m.Id)).Select(async m =>
        {
            try
            {
                return await transport.KeysAsync(m.Id, request).WaitAsync(PageTimeout, time);
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException)
            {
                return null;
            }
        }));
        var active = answers.Where(a => a is { Active: true }).ToList();
        return active.Count >= partition.QuorumSize
            ? active.SelectMany(a => a!.Keys)
            : throw new QuorumUnavailableException($"partition {partition.Partition}", active.Count, partition.QuorumSize, "listing its keys");
    }
}
