using System.Collections.Immutable;

namespace Coordination;

/// <summary>A named value as read at a revision (etcd's key-value, a ZooKeeper node).</summary>
/// <param name="Value">The value, or null when it does not exist (never set, deleted, or its session ended).</param>
/// <param name="Revision">
/// The revision of the value's last change (set or delete); only grows, across failovers, deletion and the loss of the
/// value's state (a full restart), as fencing tokens do: one more per change, and above every earlier one when the state began again.
/// </param>
/// <param name="SessionTag">The public tag of the session an ephemeral value is bound to; null for a persistent one.</param>
[GenerateSerializer, Immutable, Alias("coord.VersionedValue")]
public sealed record VersionedValue(string Name, string? Value, long Revision, string? SessionTag)
{
    /// <summary>True when the value exists.</summary>
    public bool Exists => Value is not null;

    /// <summary>What a compare-and-set must name to replace this value: its revision when it exists, 0 when it does not.</summary>
    public long CompareRevision => Exists ? Revision : 0;
}

/// <summary>What happened to a named value at a revision.</summary>
public enum ValueEventKind
{
    /// <summary>The value was set (created or replaced).</summary>
    Set = 0,

    /// <summary>The value was deleted, or its session ended.</summary>
    Deleted = 1,

    /// <summary>The watcher fell behind the retained history: this is the current value, and the revisions in between are skipped.</summary>
    Resync = 2,
}

/// <summary>One revision of a named value, as watchers see it.</summary>
[GenerateSerializer, Immutable, Alias("coord.ValueEvent")]
public sealed record ValueEvent(long Revision, ValueEventKind Kind, string? Value);

/// <summary>
/// A write of a named value. Idempotent per request id while the revision it made is retained.
/// </summary>
/// <param name="RequestId">Made by the client, unique per write; a retry reuses it.</param>
/// <param name="Value">The new value; null deletes.</param>
/// <param name="ExpectedRevision">Null: unconditional. 0: only if the value does not exist. Otherwise only if the value exists at this revision.</param>
/// <param name="SessionId">Binds the value to this session (an ephemeral value, deleted when the session ends); null for a persistent value.</param>
/// <param name="Sequence">With a session: the write's number among the session's requests (as <see cref="AcquireRequest.Sequence"/>).</param>
/// <param name="SettledThrough">With a session: as <see cref="AcquireRequest.SettledThrough"/>.</param>
/// <param name="RetriedSince">
/// Null on a first attempt. On a retry (the reply of an earlier attempt was lost): the latest revision of this value
/// the caller had seen before its first attempt (0 when none), after which that attempt may have been applied. When
/// the value no longer keeps every request id since then, the write fails with <see cref="OutcomeUnknownException"/>
/// instead of being applied a second time.
/// </param>
[GenerateSerializer, Immutable, Alias("coord.ValueWrite")]
public sealed record ValueWrite(Guid RequestId, string? Value, long? ExpectedRevision, string? SessionId = null, long Sequence = 0, long SettledThrough = 0, long? RetriedSince = null);

/// <summary>What a write did: whether it took effect, and the value after it (or, when it did not, the value that made it fail).</summary>
[GenerateSerializer, Immutable, Alias("coord.ValueWriteResult")]
public sealed record ValueWriteResult(bool Succeeded, VersionedValue Current);

/// <summary>Events after the revision a watcher asked from, in order; or a resync with the current value when it fell behind.</summary>
[GenerateSerializer, Immutable, Alias("coord.ValueWatchResult")]
public sealed record ValueWatchResult(long Revision, ImmutableArray<ValueEvent> Events, bool Resync, VersionedValue? Current);

/// <summary>
/// A named value with revisions and watches. Every reply follows a majority accept of the value's register
/// that began after the request arrived, so reads and writes are linearizable.
/// </summary>
[Alias("coord.IValueGrain")]
public interface IValueGrain : IGrainWithStringKey
{
    /// <summary>The value and its revision.</summary>
    [Alias("get")]
    Task<VersionedValue> Get();

    /// <summary>Sets or deletes the value, unconditionally or on a revision, optionally bound to a session.</summary>
    [Alias("write")]
    Task<ValueWriteResult> Write(ValueWrite write);

    /// <summary>Events after <paramref name="afterRevision"/>, waiting (parked, at most <paramref name="maxWait"/>) for the next one if there are none yet.</summary>
    [Alias("watch")]
    Task<ValueWatchResult> Watch(long afterRevision, TimeSpan maxWait);
}

/// <summary>A named 64-bit counter read or changed at a revision.</summary>
/// <param name="Succeeded">For a compare-and-set: whether it took effect. Always true for get and add.</param>
/// <param name="Value">The value after the operation (for a failed compare-and-set: the value that made it fail).</param>
/// <param name="Revision">The revision of the counter's last change; only grows.</param>
[GenerateSerializer, Immutable, Alias("coord.AtomicLongResult")]
public sealed record AtomicLongResult(bool Succeeded, long Value, long Revision);

/// <summary>
/// A named 64-bit counter (Hazelcast's IAtomicLong): get, add, compare-and-set. A counter that was never set
/// reads 0. Every reply follows a majority accept that began after the request arrived. Changes are idempotent
/// per request id while the counter keeps it (its last 64 changes).
/// </summary>
[Alias("coord.IAtomicLongGrain")]
public interface IAtomicLongGrain : IGrainWithStringKey
{
    [Alias("get")]
    Task<AtomicLongResult> Get();

    /// <summary>Adds <paramref name="delta"/>; an overflow is refused and changes nothing.</summary>
    /// <param name="requestId">Made by the caller, unique per change; a retry reuses it.</param>
    /// <param name="delta">What to add.</param>
    /// <param name="retriedSince">
    /// Null on a first attempt; on a retry, the latest revision of the counter the caller had seen before its first
    /// attempt (0 when none): a change the counter can no longer tell about fails with <see cref="OutcomeUnknownException"/>.
    /// </param>
    [Alias("add")]
    Task<AtomicLongResult> Add(Guid requestId, long delta, long? retriedSince = null);

    /// <summary>Sets <paramref name="value"/> if the counter is <paramref name="expected"/>.</summary>
    /// <param name="requestId">Made by the caller, unique per change; a retry reuses it.</param>
    /// <param name="expected">The value it must be.</param>
    /// <param name="value">The value to set.</param>
    /// <param name="retriedSince">As for <see cref="Add"/>.</param>
    [Alias("cas")]
    Task<AtomicLongResult> CompareAndSet(Guid requestId, long expected, long value, long? retriedSince = null);
}
