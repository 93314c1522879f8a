using System.Collections.Immutable;

namespace Coordination.Grains.Leases;

/// <summary>
/// A session's standing attachment at one queue: request <paramref name="Sequence"/> of the session, attached in its
/// shard and kept attached while the cover stands, so the session's end finds this queue without any other request
/// being attached. A later request of the session that rides on it is committed without an attach round.
/// </summary>
/// <param name="Sequence">The cover's own request (never carried itself): its attachment is not let go while the cover stands.</param>
/// <param name="Floor">Requests of the session numbered up to this one are the session's to judge: one this queue does not know is attached as usual.</param>
/// <param name="Mark">The highest settled-through mark the session's acquires here carried: a carried request finished at or below it is forgotten without the session, and an unknown request at or below it is sent to the session with this mark (which refuses it).</param>
/// <param name="Ttl">The session's TTL, as the cover's attach returned it.</param>
/// <param name="Retiring">The queue went quiet: nothing rides on it any more; it goes once its session has let its request go and taken its mark.</param>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.SessionCover")]
internal sealed record SessionCover(string SessionId, long Sequence, long Floor, long Mark, TimeSpan Ttl, bool Retiring = false);

/// <summary>
/// Covered acquires: a session that uses a name again acquires it in two rounds per pair (grant, release) instead of
/// three (attach, grant, release). The rule that no grant outlives its session (<see cref="SessionAttachments{TQueue}"/>)
/// holds through the cover: a carried request is committed only while its queue's register names the cover, and the
/// cover's request stays attached in the session's shard until a committed value no longer names the cover.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Made on reuse.</b> An attach of a session that has a finished request here (it used the name moments ago)
/// makes the cover, in the same commit that adds the attached request, under the same promise.</item>
/// <item><b>Late copies.</b> Without an attach the session cannot refuse a late copy of a carried request, so the
/// queue does: it keeps a carried request that finished until an acquire of the session carried a settled-through
/// mark at or above its number (the client has its outcome), and sends every unknown request at or below the cover's
/// floor or mark through the session's attach, with the mark. The floor starts above every number the session's
/// shard knew attached or settled when the cover was made, and every number of the session this queue held since
/// (or forgot during the cover's attach); it rises with every request of the session here that is not carried.</item>
/// <item><b>Retired when quiet.</b> The idle queue's retirement marks its covers retiring (nothing rides on them);
/// the session then lets the cover's request go and raises its mark to the cover's (<c>SettleCover</c>), and only
/// then does the queue forget the cover. The session's end removes its cover with everything else of it.</item>
/// <item><b>Bounded.</b> At most <see cref="MaxPerQueue"/> covers per queue; each holds one finished request and
/// one attachment.</item>
/// </list>
/// </remarks>
internal static class SessionCovers
{
    /// <summary>Most covers one queue keeps; a session that would make another attaches as usual.</summary>
    public const int MaxPerQueue = 32;

    /// <summary>
    /// Most requests a session's cover carries at once, held, queued or finished (a finished one is kept until an
    /// acquire brings a mark past it, which a request of the session still unanswered elsewhere holds back); past it
    /// the session attaches as usual. With <see cref="MaxPerQueue"/>, what covers pin stays well under
    /// <see cref="FinishedLog.Max"/>.
    /// </summary>
    public const int MaxCarried = 8;

    public static SessionCover? Find(ImmutableList<SessionCover> covers, string sessionId)
    {
        // A loop, not ImmutableList.Find with a lambda: this runs on every look at a queue, and the lambda's closure
        // was 2 % of what a seq pair allocated.
        foreach (var c in covers)
        {
            if (c.SessionId == sessionId)
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>Whether request <paramref name="sequence"/> of the cover's session may ride on it.</summary>
    public static bool Carries<TQueue>(TQueue queue, SessionCover? cover, long sequence)
        where TQueue : class, ILeaseState<TQueue> =>
        cover is { Retiring: false } c && sequence > c.Floor && sequence > c.Mark && CarriedBy(queue, c.SessionId) < MaxCarried;

    /// <summary>How many requests the cover of <paramref name="sessionId"/> carries: finished and covered, or held or queued on it (loops: every covered acquire counts them).</summary>
    private static int CarriedBy<TQueue>(TQueue queue, string sessionId)
        where TQueue : class, ILeaseState<TQueue>
    {
        var carried = 0;
        foreach (var f in queue.Finished)
        {
            if (f.Covered && f.SessionId == sessionId)
            {
                carried++;
            }
        }

        foreach (var r in new QueuedRequests<TQueue>(queue))
        {
            if (r.Cover > 0 && r.SessionId == sessionId)
            {
                carried++;
            }
        }

        return carried;
    }

    /// <summary>
    /// True when <paramref name="sequence"/>, unknown to the queue, is a late copy: the session's cover here heard a
    /// settled-through mark at or above it (the client settled it, and it is neither held nor queued here).
    /// </summary>
    public static bool Settles(SessionCover? cover, long sequence) => cover is not null && sequence > 0 && sequence <= cover.Mark;

    /// <summary>Whether an attach of <paramref name="sessionId"/> should make a cover: it has none here, and used the name moments ago.</summary>
    public static bool Worth<TQueue>(TQueue seen, string sessionId)
        where TQueue : class, ILeaseState<TQueue> =>
        seen.Covers.Count < MaxPerQueue && Find(seen.Covers, sessionId) is null && UsedBy(seen.Finished, sessionId);

    private static bool UsedBy(ImmutableList<FinishedRequest> finished, string sessionId)
    {
        foreach (var f in finished)
        {
            if (f.SessionId == sessionId && f.Sequence > 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when the finished request must stay: the cover's own, or one carried by a cover that still stands.</summary>
    public static bool Pins(ImmutableList<SessionCover> covers, FinishedRequest f) =>
        Find(covers, f.SessionId) is { } c && (f.Sequence == c.Sequence || (f.Covered && !c.Retiring));

    /// <summary>
    /// True when the queue has finished requests to let go, covers to settle, or covers to retire because it is quiet:
    /// what the failover sweeper pings it for (an activation that went away would not retire them).
    /// </summary>
    public static bool HasLeftovers<TQueue>(TQueue queue)
        where TQueue : class, ILeaseState<TQueue> =>
        queue.Covers.IsEmpty
            ? !queue.Finished.IsEmpty
            : queue.IsIdle || queue.Covers.Any(c => c.Retiring) || queue.Finished.Any(f => !Pins(queue.Covers, f));

    /// <summary>The queue with a cover made by the attached <paramref name="request"/> (no change if the session has one or the queue is full).</summary>
    /// <param name="highestKnown">The highest number the session's shard knew attached or settled at the attach.</param>
    /// <param name="forgotten">The highest number of the session this activation forgot since the attach began.</param>
    public static TQueue Make<TQueue>(TQueue queue, LockRequest request, long settledThrough, long highestKnown, long forgotten)
        where TQueue : class, ILeaseState<TQueue>
    {
        if (queue.Covers.Count >= MaxPerQueue || Find(queue.Covers, request.SessionId) is not null)
        {
            return queue;
        }

        var floor = Math.Max(Math.Max(request.Sequence, highestKnown), Math.Max(settledThrough, forgotten));
        floor = Math.Max(floor, HighestOf(queue, request.SessionId, includeCarried: true));
        return TQueue.WithCovers(queue, queue.Covers.Add(new SessionCover(request.SessionId, request.Sequence, floor, settledThrough, request.SessionTtl)));
    }

    /// <summary>
    /// An acquire of the session carried <paramref name="settledThrough"/>: the cover's mark rises to it, unless the
    /// cover is retiring: its settle lets go of the holding's attachments up to its mark, which must be the one it had
    /// when the queue was quiet (every activation settles with that one).
    /// </summary>
    public static TQueue Heard<TQueue>(TQueue queue, string sessionId, long settledThrough)
        where TQueue : class, ILeaseState<TQueue> =>
        Find(queue.Covers, sessionId) is { Retiring: false } c && settledThrough > c.Mark
            ? TQueue.WithCovers(queue, queue.Covers.Replace(c, c with { Mark = settledThrough }))
            : queue;

    /// <summary>
    /// After every change: each cover's floor rises over the session's requests here that are not carried, and
    /// carried requests that finished at or below their standing cover's mark are forgotten.
    /// </summary>
    public static TQueue Maintain<TQueue>(TQueue queue)
        where TQueue : class, ILeaseState<TQueue>
    {
        if (queue.Covers.IsEmpty)
        {
            return queue;
        }

        var covers = queue.Covers;
        var highest = covers.Count > 1 ? HighestUncarried(queue, covers) : null;
        for (var i = 0; i < covers.Count; i++)
        {
            var c = covers[i];
            var floor = Math.Max(c.Floor, highest is null ? HighestOf(queue, c.SessionId, includeCarried: false) : highest[c.SessionId]);
            if (floor != c.Floor)
            {
                covers = covers.SetItem(i, c with { Floor = floor });
            }
        }

        var next = ReferenceEquals(covers, queue.Covers) ? queue : TQueue.WithCovers(queue, covers);
        foreach (var f in queue.Finished)
        {
            // Not for a retiring cover: its settle brings the session the mark it had when it began, and what
            // finished since is let go at the session as usual.
            if (f.Covered && Find(covers, f.SessionId) is { Retiring: false } c && f.Sequence <= c.Mark)
            {
                next = TQueue.LetGo(next, f.SessionId, f.RequestId);
            }
        }

        return next;
    }

    /// <summary>The queue went quiet: nothing rides on its covers any more.</summary>
    public static TQueue Retire<TQueue>(TQueue queue)
        where TQueue : class, ILeaseState<TQueue> =>
        queue.Covers.All(c => c.Retiring) ? queue : TQueue.WithCovers(queue, [.. queue.Covers.Select(c => c with { Retiring = true })]);

    /// <summary>The session settled the retiring cover: forget it and its request.</summary>
    public static TQueue Settled<TQueue>(TQueue queue, string sessionId, long sequence)
        where TQueue : class, ILeaseState<TQueue>
    {
        if (Find(queue.Covers, sessionId) is not { Retiring: true } c || c.Sequence != sequence)
        {
            return queue;
        }

        var next = TQueue.WithCovers(queue, queue.Covers.Remove(c));
        return next.Finished.Find(f => f.SessionId == sessionId && f.Sequence == sequence) is { } own ? TQueue.LetGo(next, sessionId, own.RequestId) : next;
    }

    /// <summary>The session ended: its cover goes with everything else of it.</summary>
    public static TQueue Without<TQueue>(TQueue queue, string sessionId)
        where TQueue : class, ILeaseState<TQueue> =>
        Find(queue.Covers, sessionId) is { } c ? TQueue.WithCovers(queue, queue.Covers.Remove(c)) : queue;

    /// <summary>
    /// For each covered session, the highest number of its requests here that are not carried: one pass over the queue
    /// for all of them (a long queue with many covers would otherwise be walked once per cover, after every change).
    /// </summary>
    private static Dictionary<string, long> HighestUncarried<TQueue>(TQueue queue, ImmutableList<SessionCover> covers)
        where TQueue : class, ILeaseState<TQueue>
    {
        var highest = new Dictionary<string, long>(covers.Count, StringComparer.Ordinal);
        foreach (var c in covers)
        {
            highest.TryAdd(c.SessionId, 0);
        }

        foreach (var r in new QueuedRequests<TQueue>(queue))
        {
            if (r.Cover == 0 && highest.TryGetValue(r.SessionId, out var h) && r.Sequence > h)
            {
                highest[r.SessionId] = r.Sequence;
            }
        }

        foreach (var f in queue.Finished)
        {
            if (!f.Covered && highest.TryGetValue(f.SessionId, out var h) && f.Sequence > h)
            {
                highest[f.SessionId] = f.Sequence;
            }
        }

        return highest;
    }

    private static long HighestOf<TQueue>(TQueue queue, string sessionId, bool includeCarried)
        where TQueue : class, ILeaseState<TQueue>
    {
        var highest = 0L;
        foreach (var r in new QueuedRequests<TQueue>(queue))
        {
            if (r.SessionId == sessionId && (includeCarried || r.Cover == 0))
            {
                highest = Math.Max(highest, r.Sequence);
            }
        }

        foreach (var f in queue.Finished)
        {
            if (f.SessionId == sessionId && (includeCarried || !f.Covered))
            {
                highest = Math.Max(highest, f.Sequence);
            }
        }

        return highest;
    }
}
