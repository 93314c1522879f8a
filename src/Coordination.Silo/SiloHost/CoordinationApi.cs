using System.Collections.Immutable;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// The coordination JSON API, served by every silo and by the launcher (through its Orleans client) for the
/// coordination page and operators: partitions and their replicas with the audit trail, linearizable lock lookups,
/// and listings of locks, elections, semaphores, reader-writer locks, values, counters, latches and sessions a page at a time (searchable by name prefix), so the page stays
/// cheap with a hundred thousand held locks. Durations are in milliseconds.
/// </summary>
internal static class CoordinationApi
{
    /// <summary>Entries per page when the caller does not say.</summary>
    public const int DefaultLimit = 50;

    public static void MapCoordinationApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/coordination/partitions", (IGrainFactory grains) => ApiErrors.RunAsync(async () => Results.Json(await grains.GetGrain<IClusterAdminGrain>(0).GetView())));
        app.MapGet("/api/coordination/locks/{**name}", (string name, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            Names.Validate(name);
            return Results.Json(await grains.Reference<ILockGrain>(name).GetInfo());
        }));
        app.MapGet("/api/coordination/locks", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            var page = await grains.GetGrain<IClusterListingGrain>(0).FindLocks(prefix ?? string.Empty, after, limit ?? DefaultLimit);
            return Results.Json(new
            {
                locks = page.Locks.Select(l => new
                {
                    name = l.Name,
                    holder = l.Holder is { } h ? new { sessionTag = h.SessionTag, owner = h.Owner, fencingToken = h.FencingToken } : null,
                    leaseRemainingMs = Milliseconds(page.LeaseRemaining, l.Name),
                    waiters = l.Waiters.Select(w => new { sessionTag = w.SessionTag, owner = w.Owner }),
                    lastFencingToken = l.LastFencingToken,
                    lockDelayActive = l.LockDelayActive,
                }),
                next = page.Next,
            });
        }));
        app.MapGet("/api/coordination/elections", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            var page = await grains.GetGrain<IClusterListingGrain>(0).FindElections(prefix ?? string.Empty, after, limit ?? DefaultLimit);
            return Results.Json(new
            {
                elections = page.Elections.Select(e => new
                {
                    name = e.Election,
                    leader = e.Leader is { } l ? new { sessionTag = l.SessionTag, owner = l.Owner, term = l.Term, value = l.Value } : null,
                    leaseRemainingMs = Milliseconds(page.LeaseRemaining, e.Election),
                    candidates = e.Candidates.Select(c => new { sessionTag = c.SessionTag, owner = c.Owner }),
                    revision = e.Revision,
                }),
                next = page.Next,
            });
        }));
        app.MapGet("/api/coordination/semaphores", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
            SharedLocks(await grains.GetGrain<IClusterListingGrain>(0).FindSemaphores(prefix ?? string.Empty, after, limit ?? DefaultLimit))));
        app.MapGet("/api/coordination/reader-writer-locks", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
            SharedLocks(await grains.GetGrain<IClusterListingGrain>(0).FindReaderWriterLocks(prefix ?? string.Empty, after, limit ?? DefaultLimit))));
        app.MapGet("/api/coordination/counters", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            var page = await grains.GetGrain<IClusterListingGrain>(0).FindCounters(prefix ?? string.Empty, after, limit ?? DefaultLimit);
            return Results.Json(new { counters = page.Counters.Select(c => new { name = c.Name, value = c.Value, revision = c.Revision }), next = page.Next });
        }));
        app.MapGet("/api/coordination/latches", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            var page = await grains.GetGrain<IClusterListingGrain>(0).FindLatches(prefix ?? string.Empty, after, limit ?? DefaultLimit);
            return Results.Json(new { latches = page.Latches.Select(l => new { name = l.Name, initialCount = l.InitialCount, count = l.Count, released = l.IsReleased }), next = page.Next });
        }));
        app.MapGet("/api/coordination/values", (string? prefix, string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            var page = await grains.GetGrain<IClusterListingGrain>(0).FindValues(prefix ?? string.Empty, after, limit ?? DefaultLimit);
            return Results.Json(new
            {
                values = page.Values.Select(v => new { name = v.Name, value = v.Value, revision = v.Revision, sessionTag = v.SessionTag }),
                next = page.Next,
            });
        }));
        app.MapGet("/api/coordination/sessions", (string? after, int? limit, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            var page = await grains.GetGrain<IClusterListingGrain>(0).ListSessions(after, limit ?? DefaultLimit);
            return Results.Json(new
            {
                sessions = page.Sessions.Select(s => new
                {
                    tag = s.Tag,
                    status = s.Status.ToString(),
                    ttlMs = s.Ttl.TotalMilliseconds,
                    remainingMs = s.Remaining?.TotalMilliseconds,
                    holdings = s.Holdings,
                    owner = s.Owner,
                    revoked = s.Revoked,
                }),
                next = page.Next,
            });
        }));
    }

    /// <summary>A page of semaphores or reader-writer locks: each holder with its access, token and what is left of its session's lease.</summary>
    private static IResult SharedLocks(SharedLockListing page) => Results.Json(new
    {
        locks = page.Locks.Select(l => new
        {
            name = l.Name,
            maxCount = l.MaxCount,
            holders = l.Holders.Select(h => new
            {
                sessionTag = h.SessionTag,
                owner = h.Owner,
                access = AccessName(h.Access),
                fencingToken = h.FencingToken,
                leaseRemainingMs = page.LeaseRemaining is not null && page.LeaseRemaining.TryGetValue(h.RequestId, out var remaining) ? Math.Round(remaining.TotalMilliseconds) : (double?)null,
            }),
            waiters = l.Waiters.Select(w => new { sessionTag = w.SessionTag, owner = w.Owner, access = AccessName(w.Access) }),
            lastFencingToken = l.LastFencingToken,
            upgradePending = l.UpgradePending,
            lockDelayActive = l.LockDelayActive,
        }),
        next = page.Next,
    });

    private static string AccessName(ReaderWriterAccess access) => access switch
    {
        ReaderWriterAccess.Write => "write",
        ReaderWriterAccess.UpgradeableRead => "upgradeableRead",
        _ => "read",
    };

    private static double? Milliseconds(ImmutableDictionary<string, TimeSpan>? leases, string name) =>
        leases is not null && leases.TryGetValue(name, out var remaining) ? Math.Round(remaining.TotalMilliseconds) : null;
}
