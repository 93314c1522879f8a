using System.Collections.Immutable;

namespace Coordination;

/// <summary>One page of the locks that are held or waited for, by name; each read linearizably.</summary>
/// <param name="Next">Pass as <c>after</c> for the next page; null when this was the last.</param>
/// <param name="LeaseRemaining">By lock name, for held locks: how long the holder's session lease runs at least without
/// another keepalive, as that session's activation times it (absent when it has not timed it yet).</param>
[GenerateSerializer, Immutable, Alias("coord.LockListing")]
public sealed record LockListing(ImmutableArray<LockInfo> Locks, string? Next, ImmutableDictionary<string, TimeSpan>? LeaseRemaining = null);

/// <summary>A session as operators see it: its public tag, never its secret id.</summary>
/// <param name="Remaining">How long its lease runs at least without another keepalive, as its activation times it; null when not timed yet.</param>
/// <param name="Owner">Who opened it, as its client named itself; null when it did not say.</param>
/// <param name="Revoked">Why an operator revoked it; null unless revoked (see <see cref="SessionInfo.Revoked"/>).</param>
[GenerateSerializer, Immutable, Alias("coord.SessionSummary")]
public sealed record SessionSummary(string Tag, TimeSpan Ttl, SessionStatus Status, int Holdings, TimeSpan? Remaining = null, string? Owner = null, string? Revoked = null);

/// <summary>What an operator's revoke of a session found and did.</summary>
/// <param name="Session">The session as the revoke left it: its <see cref="SessionSummary.Remaining"/> is how long its lease
/// (and what it holds) may still run, at most its TTL.</param>
/// <param name="AlreadyEnded">It had expired or been closed already (or was revoked before): nothing changed.</param>
[GenerateSerializer, Immutable, Alias("coord.SessionRevokeResult")]
public sealed record SessionRevokeResult(SessionSummary Session, bool AlreadyEnded);

/// <summary>One page of the sessions the cluster keeps, in the order of their tags; each read linearizably.</summary>
/// <param name="Next">An opaque cursor (not a session id) to pass as <c>after</c> for the next page; null when this was the last.</param>
[GenerateSerializer, Immutable, Alias("coord.SessionListing")]
public sealed record SessionListing(ImmutableArray<SessionSummary> Sessions, string? Next);

/// <summary>One page of the elections that have a leader or candidates, by name; each read linearizably.</summary>
/// <param name="Next">Pass as <c>after</c> for the next page; null when this was the last.</param>
/// <param name="LeaseRemaining">By election, for those with a leader: how long the leader's session lease runs at least, as for locks.</param>
[GenerateSerializer, Immutable, Alias("coord.ElectionListing")]
public sealed record ElectionListing(ImmutableArray<ElectionState> Elections, string? Next, ImmutableDictionary<string, TimeSpan>? LeaseRemaining = null);

/// <summary>One page of the semaphores or of the reader-writer locks that are held or waited for, by name; each read linearizably.</summary>
/// <param name="Next">Pass as <c>after</c> for the next page; null when this was the last.</param>
/// <param name="LeaseRemaining">By holder (its request id): how long the holder's session lease runs at least without another
/// keepalive, as that session's activation times it (absent when it has not timed it yet).</param>
[GenerateSerializer, Immutable, Alias("coord.SharedLockListing")]
public sealed record SharedLockListing(ImmutableArray<SharedLockInfo> Locks, string? Next, ImmutableDictionary<Guid, TimeSpan>? LeaseRemaining = null);

/// <summary>One page of the values that exist, by name; each read linearizably when its page was read.</summary>
/// <param name="Next">Pass as <c>after</c> for the next page; null when this was the last.</param>
[GenerateSerializer, Immutable, Alias("coord.ValueListing")]
public sealed record ValueListing(ImmutableArray<VersionedValue> Values, string? Next);

/// <summary>A counter as a listing shows it: its value and the revision of its last change, read through a majority.</summary>
[GenerateSerializer, Immutable, Alias("coord.CounterEntry")]
public sealed record CounterEntry(string Name, long Value, long Revision);

/// <summary>One page of the counters that are not at zero (a counter at zero is the same as one never set), by name.</summary>
/// <param name="Next">Pass as <c>after</c> for the next page; null when this was the last.</param>
[GenerateSerializer, Immutable, Alias("coord.CounterListing")]
public sealed record CounterListing(ImmutableArray<CounterEntry> Counters, string? Next);

/// <summary>One page of the latches the cluster keeps (counting down, or released and not yet retired), by name; each read through a majority.</summary>
/// <param name="Next">Pass as <c>after</c> for the next page; null when this was the last.</param>
[GenerateSerializer, Immutable, Alias("coord.LatchListing")]
public sealed record LatchListing(ImmutableArray<LatchState> Latches, string? Next);

/// <summary>
/// Operator listings of what the cluster holds, page by page (etcdctl get --prefix --limit, consul's
/// session list). Names come from the replicas of every partition; each entry is then read through a
/// majority, so a page shows current state, and empty locks are left out.
/// </summary>
[Alias("coord.IClusterListingGrain")]
public interface IClusterListingGrain : IGrainWithIntegerKey
{
    /// <summary>Locks held or waited for whose names come after <paramref name="after"/> (ordinal; null for the first page), at most <paramref name="limit"/> names examined (1 to 1,000).</summary>
    [Alias("locks")]
    Task<LockListing> ListLocks(string? after, int limit);

    /// <summary>As <see cref="ListLocks"/>, only names that start with <paramref name="prefix"/> (ordinal; empty for all): a search that stays a page.</summary>
    [Alias("find-locks")]
    Task<LockListing> FindLocks(string prefix, string? after, int limit);

    /// <summary>Elections with a leader or candidates whose names start with <paramref name="prefix"/>, after <paramref name="after"/>, at most <paramref name="limit"/> names examined (1 to 1,000).</summary>
    [Alias("find-elections")]
    Task<ElectionListing> FindElections(string prefix, string? after, int limit);

    /// <summary>
    /// Semaphores with a permit held or awaited whose names start with <paramref name="prefix"/>, after <paramref name="after"/>,
    /// at most <paramref name="limit"/> names examined (1 to 1,000).
    /// </summary>
    [Alias("find-semaphores")]
    Task<SharedLockListing> FindSemaphores(string prefix, string? after, int limit);

    /// <summary>
    /// Reader-writer locks held or waited for whose names start with <paramref name="prefix"/>, after <paramref name="after"/>,
    /// at most <paramref name="limit"/> names examined (1 to 1,000).
    /// </summary>
    [Alias("find-reader-writer-locks")]
    Task<SharedLockListing> FindReaderWriterLocks(string prefix, string? after, int limit);

    /// <summary>
    /// Counters not at zero whose names start with <paramref name="prefix"/>, after <paramref name="after"/>, at most
    /// <paramref name="limit"/> names examined (1 to 1,000).
    /// </summary>
    [Alias("find-counters")]
    Task<CounterListing> FindCounters(string prefix, string? after, int limit);

    /// <summary>
    /// Latches kept (counting down, or released and not yet retired) whose names start with <paramref name="prefix"/>,
    /// after <paramref name="after"/>, at most <paramref name="limit"/> names examined (1 to 1,000).
    /// </summary>
    [Alias("find-latches")]
    Task<LatchListing> FindLatches(string prefix, string? after, int limit);

    /// <summary>
    /// Values that exist (set, not deleted, their session alive) whose names start with <paramref name="prefix"/>, after
    /// <paramref name="after"/>, at most <paramref name="limit"/> names examined (1 to 1,000): etcd's <c>get --prefix</c>.
    /// </summary>
    [Alias("find-values")]
    Task<ValueListing> FindValues(string prefix, string? after, int limit);

    /// <summary>Sessions after the cursor <paramref name="after"/> (null for the first page), at most <paramref name="limit"/> (1 to 1,000).</summary>
    [Alias("sessions")]
    Task<SessionListing> ListSessions(string? after, int limit);
}
