using System.Collections.Immutable;
using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
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
internal sealed class ClusterListingGrain(MetadataDirectory directory, OrleansReplicaTransport transport, TimeProvider time) : Grain, IClusterListingGrain, IClusterListingGrainInternal
{
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(2);

    public Task<LockListing> ListLocks(string? after, int limit) => FindLocks(string.Empty, after, limit);

    public async Task<LockListing> FindLocks(string prefix, string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Lock, prefix, after, limit);
        var entries = await Task.WhenAll(keys.Select(key => GrainFactory.Reference<ILockGrainInternal>(RegisterKeys.NameOf(key)).GetInfoWithLease()));
        var live = entries.Where(e => e.Value.Holder is not null || !e.Value.Waiters.IsDefaultOrEmpty).ToList();
        return new LockListing([.. live.Select(e => e.Value)], next, Leases(live, e => e.Value.Name, e => e.LeaseRemaining));
    }

    public async Task<ElectionListing> FindElections(string prefix, string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Election, prefix, after, limit);
        var entries = await Task.WhenAll(keys.Select(key => GrainFactory.Reference<IElectionGrainInternal>(RegisterKeys.NameOf(key)).GetStateWithLease()));
        var live = entries.Where(e => e.Value.Leader is not null || !e.Value.Candidates.IsDefaultOrEmpty).ToList();
        return new ElectionListing([.. live.Select(e => e.Value)], next, Leases(live, e => e.Value.Election, e => e.LeaseRemaining));
    }

    public Task<SharedLockListing> FindSemaphores(string prefix, string? after, int limit) =>
        FindSharedAsync(RegisterKeys.Semaphore, name => GrainFactory.Reference<ISemaphoreGrainInternal>(name).GetInfoWithLeases(), prefix, after, limit);

    public Task<SharedLockListing> FindReaderWriterLocks(string prefix, string? after, int limit) =>
        FindSharedAsync(RegisterKeys.ReaderWriterLock, name => GrainFactory.Reference<IReaderWriterLockGrainInternal>(name).GetInfoWithLeases(), prefix, after, limit);

    public async Task<CounterListing> FindCounters(string prefix, string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.AtomicLong, prefix, after, limit);
        var counters = await Task.WhenAll(keys.Select(async key =>
        {
            var name = RegisterKeys.NameOf(key);
            var read = await GrainFactory.Reference<IAtomicLongGrain>(name).Get();
            return new CounterEntry(name, read.Value, read.Revision);
        }));
        return new CounterListing([.. counters.Where(c => c.Value != 0)], next);
    }

    public async Task<LatchListing> FindLatches(string prefix, string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Latch, prefix, after, limit);
        var latches = await Task.WhenAll(keys.Select(key => GrainFactory.Reference<ILatchGrainInternal>(RegisterKeys.NameOf(key)).GetState()));
        return new LatchListing([.. latches.OfType<LatchState>()], next);
    }

    public async Task<ValueListing> FindValues(string prefix, string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Value, prefix, after, limit);
        var values = await Task.WhenAll(keys.Select(key => GrainFactory.Reference<IValueGrain>(RegisterKeys.NameOf(key)).Get()));
        return new ValueListing([.. values.Where(v => v.Exists)], next);
    }

    public async Task<SessionListing> ListSessions(string? after, int limit)
    {
        var (keys, next) = await PageAsync(RegisterKeys.Session(string.Empty), after, limit, KeyOrder.TopLevelByHash);
        var infos = await Task.WhenAll(keys.Select(async key =>
        {
            try
            {
                var info = await GrainFactory.Reference<ISessionGrain>(RegisterKeys.NameOf(key)).GetInfo();
                return new SessionSummary(info.Tag, info.Ttl, info.Status, info.Holdings, await HolderLease.RemainingAsync(GrainFactory, info.SessionId), info.Owner, info.Revoked);
            }
            catch (SessionNotFoundException)
            {
                return null;
            }
            catch (Exception ex)
            {
                throw Unanswered(SessionIds.Tag(RegisterKeys.NameOf(key)), ex);
            }
        }));
        return new SessionListing([.. infos.OfType<SessionSummary>()], next);
    }

    private async Task<SharedLockListing> FindSharedAsync(Func<string, string> keyOf, Func<string, Task<WithLeases<SharedLockInfo>>> read, string prefix, string? after, int limit)
    {
        var (keys, next) = await PageAsync(keyOf, prefix, after, limit);
        var entries = await Task.WhenAll(keys.Select(key => read(RegisterKeys.NameOf(key))));
        var live = entries.Where(e => !e.Value.Holders.IsDefaultOrEmpty || !e.Value.Waiters.IsDefaultOrEmpty).ToList();
        var leases = ImmutableDictionary.CreateBuilder<Guid, TimeSpan>();
        foreach (var (requestId, remaining) in live.SelectMany(e => e.LeaseRemaining))
        {
            HolderLease.AddShortest(leases, requestId, remaining);
        }

        return new SharedLockListing([.. live.Select(e => e.Value)], next, leases.ToImmutable());
    }

    /// <summary>
    /// Sessions are paged in the order of the hash their tag is the start of, so the page after the tag itself begins with
    /// the sessions that have it (two would share one only by a 48-bit collision). The id found stays in this silo.
    /// </summary>
    public async Task<SessionRevokeResult> RevokeSessionTagged(string tag, string reason)
    {
        var (keys, _) = await PageAsync(RegisterKeys.Session(string.Empty), tag, 2, KeyOrder.TopLevelByHash);
        var ids = keys.Select(RegisterKeys.NameOf).Where(id => SessionIds.Tag(id) == tag).ToList();
        try
        {
            return ids.Count switch
            {
                0 => throw SessionNotFoundException.ForTag(tag),
                1 => await GrainFactory.Reference<ISessionGrainInternal>(ids[0]).Revoke(reason),
                _ => throw new RevokeRefusedException($"session {tag}", $"{ids.Count} sessions have this tag; revoke what they hold one lock at a time"),
            };
        }
        catch (SessionNotFoundException ex) when (ex.SessionId != tag)
        {
            // Deleted since its key was listed: say so by its tag, never by the id the exception carries.
            throw SessionNotFoundException.ForTag(tag);
        }
        catch (Exception ex) when (ex is not (CoordinationArgumentException or RevokeRefusedException or SessionNotFoundException))
        {
            throw Unanswered(tag, ex);
        }
    }

    /// <summary>
    /// A session's register or grain that did not answer, told by the session's public tag only: the errors of its round
    /// or call name its register key or grain id, which hold the session's secret id.
    /// </summary>
    private static QuorumUnavailableException Unanswered(string tag, Exception ex) =>
        new($"session {tag}", 0, 0, $"its register did not answer ({ex.GetType().Name}); retry later");

    /// <summary>
    /// One page of the names under <paramref name="prefix"/> after the cursor. Replicas page by the rest of the key
    /// after the prefix they are given, so the cursor (a whole name) is cut to that rest, or ends the search when it
    /// is past every name with the prefix.
    /// </summary>
    private async Task<(List<string> Keys, string? Next)> PageAsync(Func<string, string> keyOf, string prefix, string? after, int limit)
    {
        if (prefix is null)
        {
            throw new CoordinationArgumentException(nameof(prefix), "a prefix is required (empty for every name)");
        }

        if (prefix.Length > 0 && Names.Check(prefix) is { } problem)
        {
            throw new CoordinationArgumentException(nameof(prefix), problem.Replace("a name", "a prefix", StringComparison.Ordinal));
        }

        if (ListingCursor.Within(prefix, after) is not { } rest)
        {
            ValidateLimit(limit);
            return ([], null);
        }

        var (keys, next) = await PageAsync(keyOf(prefix), rest, limit, KeyOrder.ByName);
        return (keys, next is null ? null : prefix + next);
    }

    /// <summary>The first <paramref name="limit"/> register keys after the cursor over all partitions, and the cursor of the next page.</summary>
    private async Task<(List<string> Keys, string? Next)> PageAsync(string prefix, string? after, int limit, KeyOrder order)
    {
        ValidateLimit(limit);
        var request = (int partition) => new KeyPageRequest(partition, prefix, after ?? string.Empty, limit, order);
        var pages = await Task.WhenAll(directory.Current.Partitions.Where(p => p.IsAssigned).Select(p => PartitionPageAsync(p, request(p.Partition))));
        var merged = pages.SelectMany(p => p).DistinctBy(k => k.Key).OrderBy(k => k.Key, StringComparer.Ordinal).Take(limit).ToList();
        return ([.. merged.Select(k => k.Value)], merged.Count == limit ? merged[^1].Key : null);
    }

    private static void ValidateLimit(int limit)
    {
        if (limit is < 1 or > KeyPages.MaxLimit)
        {
            throw new CoordinationArgumentException(nameof(limit), $"a page holds 1 to {KeyPages.MaxLimit} entries, not {limit}");
        }
    }

    private static ImmutableDictionary<string, TimeSpan> Leases<T>(IEnumerable<T> entries, Func<T, string> name, Func<T, TimeSpan?> lease) =>
        entries.Where(e => lease(e) is not null).ToImmutableDictionary(name, e => lease(e)!.Value);

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
