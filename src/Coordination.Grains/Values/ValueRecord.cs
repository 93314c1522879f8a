using System.Collections.Immutable;
using Coordination.Grains.Leases;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Values;

/// <summary>
/// One retained revision of a named value: what happened, the value after it, and the write that made it (for
/// idempotent retries). A set whose value is null had its value dropped to keep the history within its size
/// budget: it still answers retries, but no longer watchers.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.ValueHistoryEntry")]
internal sealed record ValueHistoryEntry(long Revision, ValueEventKind Kind, string? Value, Guid RequestId)
{
    /// <summary>True when a watcher can be handed this revision (a delete, or a set that still has its value).</summary>
    public bool HasEvent => Kind != ValueEventKind.Set || Value is not null;
}

/// <summary>
/// The replicated state of a named value: the value (null: it does not exist), its revision, the latest
/// revisions for watchers and retried writes, and its binding: a lock queue whose holder is the session an
/// ephemeral value belongs to, so that the session machinery (<see cref="SessionAttachments{TQueue}"/>,
/// <see cref="FinishedRequests{TQueue}"/>) ends it with its session exactly as it ends a lock grant.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.ValueRecord")]
internal sealed record ValueRecord(string? Value, long Revision, ImmutableList<ValueHistoryEntry> History, LockRecord Binding) : IRegisterValue
{
    public static readonly ValueRecord Empty = new(null, 0, [], LockRecord.Empty);

    /// <summary>The value of an absent register (never used, or deleted): revisions count on from the partition's floor, so they only grow.</summary>
    public static ValueRecord Fresh(long floor) => floor == 0 ? Empty : new(null, floor, [], LockRecord.Fresh(floor));

    /// <summary>No value and nobody bound, nothing to let go: the register may be deleted.</summary>
    public bool IsEmpty => Value is null && Binding.IsEmpty;

    /// <summary>No value and nobody bound: quiet, though finished bindings may still wait to be let go.</summary>
    public bool IsQuiet => Value is null && Binding.IsIdle;

    long IRegisterValue.Floor => Math.Max(Revision, Binding.LastToken);

    int IRegisterValue.EstimatedBytes => 64 + (Value?.Length ?? 0) + History.Sum(e => 48 + (e.Value?.Length ?? 0)) + ((IRegisterValue)Binding).EstimatedBytes;
}

/// <summary>Named-value transitions as pure functions.</summary>
internal static class ValueStateMachine
{
    /// <summary>The longest value, in UTF-8 bytes.</summary>
    public const int MaxValueBytes = 16 * 1024;

    /// <summary>Revisions kept for retried writes, whatever the values' sizes, and for watchers (fewer when values are large).</summary>
    public const int MaxHistory = 128;

    /// <summary>Most characters of values the retained history holds (it is replicated with every change); older values are dropped, their request ids stay.</summary>
    public const int MaxHistoryValueChars = 64 * 1024;

    /// <summary>
    /// Applies a write. A write whose revision is still retained is a retry: it is answered as it was. A write whose
    /// expected revision does not match changes nothing (but a binding it attached is let go). Otherwise the value gets
    /// the next revision, and the binding moves to the writer's session (ephemeral) or is dropped (persistent).
    /// </summary>
    /// <param name="ttl">With a session: its TTL, as its attach returned it.</param>
    /// <param name="proposed">Where this call's earlier attempts were proposed: one chosen and since dropped from the history fails as unknown.</param>
    public static (ValueRecord Next, ValueWriteResult Result) Write(ValueRecord r, string name, ValueWrite w, TimeSpan ttl, long tokenEpoch, ProposedRevisions proposed)
    {
        if (r.History.Find(e => e.RequestId == w.RequestId) is { } done)
        {
            // A retry carries the value of its first attempt, which stands in for one dropped from the history.
            var value = done.Kind == ValueEventKind.Deleted ? null : done.Value ?? w.Value;
            return (r, new ValueWriteResult(true, new VersionedValue(name, value, done.Revision, value is null ? null : BoundTag(r, w))));
        }

        proposed.ThrowIfForgotten(name, w.RequestId, r.Revision, r.History.Count < MaxHistory ? null : r.History[0].Revision);

        var current = Current(r, name);
        var matches = w.ExpectedRevision is not { } expected || expected == current.CompareRevision;
        if (!matches || (w.Value is null && r.Value is null))
        {
            // Nothing changes; an ephemeral write's attach is let go like a cancelled request.
            var binding = w.SessionId is null ? r.Binding : LockStateMachine.Cancel(r.Binding, w.SessionId, w.RequestId, tokenEpoch, w.Sequence).Next;
            return (r with { Binding = binding }, new ValueWriteResult(false, current));
        }

        // As a fencing token: a value whose state began again (a full restart, a re-initialised partition) continues
        // above every revision of its earlier life, so a compare-and-set naming one of those never matches it.
        var revision = FencingTokens.Next(r.Revision, tokenEpoch);
        proposed.Proposed(revision);
        var unbound = Unbind(r.Binding, tokenEpoch);
        var bound = w.SessionId is null
            ? unbound
            : unbound with { LastToken = Math.Max(unbound.LastToken, revision), Holder = new LockGrant(w.SessionId, w.RequestId, revision, null, TimeSpan.Zero, ttl, null, w.Sequence) };
        var next = Record(r, w.Value, revision, w.Value is null ? ValueEventKind.Deleted : ValueEventKind.Set, w.RequestId, bound);
        return (next, new ValueWriteResult(true, Current(next, name)));
    }

    /// <summary>
    /// The value after its binding changed (its session ended, or its attach was found missing): an ephemeral value
    /// whose binding is gone is deleted at the next revision. One whose session's state vanished (its partition was
    /// re-initialised) is kept while the binding waits out its delay, a whole TTL, and deleted when the delay ends
    /// (<see cref="LockStateMachine.EndLockDelay"/>): its owner may still believe in its session, as a lock's holder
    /// does (<see cref="LockStateMachine.SessionEnded"/>), so the value is never deleted early.
    /// </summary>
    public static ValueRecord WithBinding(ValueRecord r, LockRecord binding)
    {
        var wasBound = r.Binding.Holder is not null || r.Binding.Delay is not null;
        var gone = binding.Holder is null && binding.Delay is null;
        return wasBound && gone && r.Value is not null
            ? Record(r, null, r.Revision + 1, ValueEventKind.Deleted, Guid.Empty, binding)
            : r with { Binding = binding };
    }

    /// <summary>What a watcher that has seen <paramref name="afterRevision"/> gets next.</summary>
    public static ValueWatchResult Watch(ValueRecord r, string name, long afterRevision)
    {
        if (r.Revision <= afterRevision)
        {
            var ahead = afterRevision > r.Revision;
            return new ValueWatchResult(r.Revision, [], ahead, ahead ? Current(r, name) : null);
        }

        // Values are dropped oldest first: the revisions a watcher can be handed start after the last one dropped.
        var kept = r.History.FindLastIndex(e => !e.HasEvent) + 1;
        var oldest = kept < r.History.Count ? r.History[kept].Revision : r.Revision + 1;
        if (oldest > afterRevision + 1)
        {
            // Fallen behind what is retained: never hand out a partial history, hand out the present.
            return new ValueWatchResult(r.Revision, [], true, Current(r, name));
        }

        return new ValueWatchResult(r.Revision, [.. r.History.Where(e => e.Revision > afterRevision).Select(e => new ValueEvent(e.Revision, e.Kind, e.Value))], false, null);
    }

    public static VersionedValue Current(ValueRecord r, string name) =>
        new(name, r.Value, r.Revision, r.Value is not null && r.Binding.Holder is { } h ? SessionIds.Tag(h.SessionId) : null);

    public static void Validate(ValueWrite w)
    {
        ArgumentNullException.ThrowIfNull(w);
        RequestRules.ValidateRequestId(w.RequestId);
        if (w.Value is not null && System.Text.Encoding.UTF8.GetByteCount(w.Value) is var bytes && bytes > MaxValueBytes)
        {
            throw new CoordinationArgumentException("value", $"a value is at most {MaxValueBytes} UTF-8 bytes (got {bytes})");
        }

        if (w.ExpectedRevision < 0)
        {
            throw new CoordinationArgumentException("expectedRevision", $"an expected revision is 0 (absent) or more (got {w.ExpectedRevision})");
        }

        if (w.SessionId is null)
        {
            return;
        }

        if (w.Value is null)
        {
            throw new CoordinationArgumentException("sessionId", "a delete is not bound to a session");
        }

        RequestRules.ValidateSession(w.SessionId);
        RequestRules.ValidateSequence(w.Sequence, w.SettledThrough);
    }

    private static string? BoundTag(ValueRecord r, ValueWrite w) =>
        w.SessionId is not null && r.Binding.Holder?.RequestId == w.RequestId ? SessionIds.Tag(w.SessionId) : null;

    /// <summary>
    /// The binding without its holder, who is let go at its session like a cancelled request, and without a pending
    /// delay, which kept the very value being replaced.
    /// </summary>
    private static LockRecord Unbind(LockRecord binding, long tokenEpoch)
    {
        var unbound = binding.Holder is { } h ? LockStateMachine.Cancel(binding, h.SessionId, h.RequestId, tokenEpoch, h.Sequence).Next : binding;
        return unbound.Delay is null ? unbound : unbound with { Delay = null };
    }

    private static ValueRecord Record(ValueRecord r, string? value, long revision, ValueEventKind kind, Guid requestId, LockRecord binding)
    {
        var history = r.History.Add(new ValueHistoryEntry(revision, kind, value, requestId));
        if (history.Count > MaxHistory)
        {
            history = history.RemoveRange(0, history.Count - MaxHistory);
        }

        // Over the size budget, the oldest values go but their entries stay: a retry is recognised by its request id
        // among the last MaxHistory revisions whatever the values' sizes (README), and the state stays bounded.
        var chars = history.Sum(e => e.Value?.Length ?? 0);
        for (var i = 0; chars > MaxHistoryValueChars && i < history.Count - 1; i++)
        {
            if (history[i].Value is { } old)
            {
                chars -= old.Length;
                history = history.SetItem(i, history[i] with { Value = null });
            }
        }

        return new ValueRecord(value, revision, history, binding);
    }
}
