using System.Collections.Immutable;
using Coordination.Grains.Leases;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Elections;

/// <summary>One retained revision of an election: what happened and who led after it.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.ElectionHistoryEntry")]
internal sealed record ElectionHistoryEntry(long Revision, ElectionEventKind Kind, LockGrant? Leader);

/// <summary>
/// The replicated state of an election: the candidate queue (a lock queue whose holder is the leader and
/// whose grant payload is the leader's value), the revision, and the latest revisions for observers.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.ElectionRecord")]
internal sealed record ElectionRecord(LockRecord Queue, long Revision, ImmutableList<ElectionHistoryEntry> History) : IRegisterValue
{
    public static readonly ElectionRecord Empty = new(LockRecord.Empty, 0, []);

    /// <summary>
    /// The election of a register that does not exist (never used, or deleted after it stood vacant): no leader,
    /// terms and revisions counting from the partition's token floor, so both only ever grow, and an observer
    /// that saw the election before it was deleted gets a resync rather than events of another life of it.
    /// </summary>
    public static ElectionRecord Fresh(long tokenFloor) => tokenFloor == 0 ? Empty : new(LockRecord.Fresh(tokenFloor), tokenFloor, []);

    long IRegisterValue.Floor => Math.Max(Queue.LastToken, Revision);

    int IRegisterValue.EstimatedBytes => ((IRegisterValue)Queue).EstimatedBytes + History.Sum(e => 48 + (e.Leader?.Payload?.Length ?? 0) + (e.Leader?.Owner?.Length ?? 0));
}

/// <summary>Election transitions as pure functions on top of the lock queue's.</summary>
internal static class ElectionStateMachine
{
    /// <summary>Revisions kept for observers (fewer when their values are large); one that falls further behind gets a resync.</summary>
    public const int MaxHistory = 128;

    /// <summary>Most characters of leader values the retained history holds (it is replicated with every change).</summary>
    public const int MaxHistoryValueChars = 64 * 1024;

    /// <summary>The longest leader value, in UTF-8 bytes.</summary>
    public const int MaxValueBytes = 4096;

    /// <summary>
    /// The election after its queue changed: a different leader (or none) is a new revision with an
    /// Elected (or Vacant) event; the same leader with a new value is a new revision with a Proclaimed event.
    /// </summary>
    public static ElectionRecord Normalize(ElectionRecord? before, LockRecord queue)
    {
        var old = before ?? ElectionRecord.Empty;
        var was = old.Queue.Holder;
        var now = queue.Holder;
        ElectionEventKind? kind = (was, now) switch
        {
            (null, null) => null,
            (_, null) => ElectionEventKind.Vacant,
            (null, _) => ElectionEventKind.Elected,
            _ when was!.Token != now!.Token => ElectionEventKind.Elected,
            _ when was.Payload != now.Payload => ElectionEventKind.Proclaimed,
            _ => null,
        };
        if (kind is null)
        {
            return old with { Queue = queue };
        }

        var revision = old.Revision + 1;
        var history = old.History.Add(new ElectionHistoryEntry(revision, kind.Value, now));
        if (history.Count > MaxHistory)
        {
            history = history.RemoveRange(0, history.Count - MaxHistory);
        }

        var chars = history.Sum(e => e.Leader?.Payload?.Length ?? 0);
        while (chars > MaxHistoryValueChars && history.Count > 1)
        {
            chars -= history[0].Leader?.Payload?.Length ?? 0;
            history = history.RemoveAt(0);
        }

        return new ElectionRecord(queue, revision, history);
    }

    /// <summary>The leader of <paramref name="term"/> publishes <paramref name="value"/>.</summary>
    public static LockRecord Proclaim(LockRecord queue, string election, string sessionId, Guid candidateId, long term, string? value)
    {
        if (queue.Holder is not { } h || h.SessionId != sessionId || h.RequestId != candidateId || h.Token != term)
        {
            throw new NotLeaderException(election, queue.Holder is null ? "the election has no leader" : $"term {term} of candidate {candidateId} is not the current term {queue.Holder.Token}");
        }

        return h.Payload == value ? queue : queue with { Holder = h with { Payload = value } };
    }

    /// <summary>What an observer that has seen <paramref name="afterRevision"/> gets next.</summary>
    public static ObserveResult Observe(ElectionRecord? record, string election, long afterRevision)
    {
        var r = record ?? ElectionRecord.Empty;
        if (r.Revision <= afterRevision)
        {
            return new ObserveResult(r.Revision, [], afterRevision > r.Revision, afterRevision > r.Revision ? Leader(election, r.Queue.Holder) : null);
        }

        var oldest = r.History.IsEmpty ? r.Revision + 1 : r.History[0].Revision;
        if (oldest > afterRevision + 1)
        {
            // Fallen behind what is retained: never hand out a partial history, hand out the present.
            return new ObserveResult(r.Revision, [], true, Leader(election, r.Queue.Holder));
        }

        return new ObserveResult(r.Revision, [.. r.History.Where(e => e.Revision > afterRevision).Select(e => new ElectionEvent(e.Revision, e.Kind, Leader(election, e.Leader)))], false, null);
    }

    public static LeaderInfo? Leader(string election, LockGrant? g) =>
        g is null ? null : new LeaderInfo(election, SessionIds.Tag(g.SessionId), g.RequestId, g.Token, g.Payload, g.Owner);

    public static void ValidateValue(string? value)
    {
        if (value is not null && System.Text.Encoding.UTF8.GetByteCount(value) > MaxValueBytes)
        {
            throw new CoordinationArgumentException("value", $"a leader value is at most {MaxValueBytes} UTF-8 bytes (got {System.Text.Encoding.UTF8.GetByteCount(value)})");
        }
    }
}
