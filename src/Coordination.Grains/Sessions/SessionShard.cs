using System.Collections.Immutable;
using System.IO.Hashing;
using System.Text;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Sessions;

/// <summary>One request a session holds or waits for at a lock or election: the place and the request's number in its session.</summary>
[GenerateSerializer, Immutable, Alias("coord.Attachment")]
internal sealed record Attachment(Holding Holding, long Sequence) : IComparable<Attachment>
{
    public int CompareTo(Attachment? other) =>
        other is null ? 1 : Holding.CompareTo(other.Holding) is var byHolding && byHolding != 0 ? byHolding : Sequence.CompareTo(other.Sequence);
}

/// <summary>
/// One shard of what a session holds (register <c>s/{id}/{shard}</c>; a request goes to the shard its lock's
/// name hashes to, <see cref="SessionShards.Of"/>): the requests attached there, and what the shard knows of
/// the session's settled requests, so a late copy of an old request is refused however many came since.
/// </summary>
/// <param name="Ended">Set by the session's end before it tells what is attached: an ended shard attaches nothing more.</param>
/// <param name="Attached">Requests that hold or wait, each recorded before its lock or election committed it.</param>
/// <param name="Settled">Numbers above <paramref name="SettledThrough"/> whose requests finished here: refused if they come again.</param>
/// <param name="SettledThrough">The client's mark as this shard last heard it: every request numbered up to it that is not attached is over.</param>
[GenerateSerializer, Immutable, Alias("coord.SessionShard")]
internal sealed record SessionShard(bool Ended, ImmutableSortedSet<Attachment> Attached, ImmutableSortedSet<long> Settled, long SettledThrough) : IRegisterValue
{
    public static readonly SessionShard Empty = new(false, [], [], 0);

    long IRegisterValue.Floor => 0;

    int IRegisterValue.EstimatedBytes => 32 + Attached.Sum(a => 24 + a.Holding.Name.Length) + (Settled.Count * 8);
}

/// <summary>What an attach that makes a cover learns: the session's TTL and the highest request number its shard knows attached or settled.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.CoverAttach")]
internal sealed record CoverAttach(TimeSpan Ttl, long HighestKnown);

/// <summary>The shards of a session and their transitions, as pure functions.</summary>
internal static class SessionShards
{
    /// <summary>Shards per session: what one attach or detach rewrites is about 1/256 of what the session holds.</summary>
    public const int Count = 256;

    /// <summary>Most requests one shard holds (so a session holds or waits for about a million at most).</summary>
    public const int MaxAttachedPerShard = 4096;

    /// <summary>Most settled numbers above the mark one shard remembers; past it the mark moves up to the oldest.</summary>
    public const int MaxSettledPerShard = 4096;

    /// <summary>The shard of a holding: a stable hash of its register key, identical on every silo and version.</summary>
    public static int Of(Holding holding) =>
        (int)(XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(holding.RegisterKey)) % Count);

    /// <summary>
    /// Attaches (holding, sequence). A retry of an attached request is accepted as it is; a request whose
    /// number is settled (at or below the mark and not attached, or remembered as settled) is refused as
    /// finished; an ended shard refuses everything (the session is over).
    /// </summary>
    public static SessionShard Attach(SessionShard? current, string sessionId, Holding holding, long sequence, long settledThrough)
    {
        var s = current ?? SessionShard.Empty;
        if (s.Ended)
        {
            throw new SessionExpiredException(sessionId, "it ended before this request reached it");
        }

        var attachment = new Attachment(holding, sequence);
        var mark = Math.Max(s.SettledThrough, settledThrough);
        if (s.Attached.Contains(attachment))
        {
            return Prune(s, mark);
        }

        if (sequence <= mark || s.Settled.Contains(sequence))
        {
            throw new RequestFinishedException(holding.Name, Guid.Empty, $"request number {sequence} of this session is already over (the client has settled every request up to {mark})");
        }

        if (s.Attached.Count >= MaxAttachedPerShard)
        {
            throw new SessionFullException(SessionIds.Tag(sessionId), $"{s.Attached.Count} requests in the part of the session that '{holding.Name}' belongs to, the most it keeps");
        }

        return Prune(s with { Attached = s.Attached.Add(attachment) }, mark);
    }

    /// <summary>
    /// Lets (holding, sequence) go: the request is over at its lock or election. Only that request is removed (a
    /// detach never undoes another request's attach), and its number is remembered as settled until the mark
    /// passes it. Nothing is created for a shard that does not exist (the session is gone).
    /// </summary>
    public static SessionShard? Detach(SessionShard? current, Holding holding, long sequence)
    {
        if (current is null)
        {
            return null;
        }

        var s = current with { Attached = current.Attached.Remove(new Attachment(holding, sequence)) };
        if (sequence > s.SettledThrough && !s.Ended)
        {
            s = s with { Settled = s.Settled.Add(sequence) };
        }

        return Prune(s, s.SettledThrough);
    }

    /// <summary>
    /// A retiring cover lets its request go (as <see cref="Detach"/>) and brings the client's mark as its holding
    /// heard it: every request up to <paramref name="settledThrough"/> that is not attached is over. The holding
    /// was quiet when the cover retired and refuses unknown requests up to that mark since, so whatever else is
    /// still attached there at or below it is over too (an attach whose commit failed before a retry rode on the
    /// cover) and is let go. Nothing is created for a shard that does not exist.
    /// </summary>
    public static SessionShard? Settle(SessionShard? current, Holding holding, long sequence, long settledThrough)
    {
        var s = Detach(current, holding, sequence);
        if (s is null || s.Ended)
        {
            return s;
        }

        var over = s.Attached.Where(a => a.Holding == holding && a.Sequence <= settledThrough).ToList();
        return Prune(over.Count == 0 ? s : s with { Attached = s.Attached.Except(over) }, Math.Max(s.SettledThrough, settledThrough));
    }

    /// <summary>The highest request number this shard knows attached or settled (its mark, or above it).</summary>
    public static long HighestKnown(SessionShard s) =>
        Math.Max(s.SettledThrough, Math.Max(s.Settled.IsEmpty ? 0 : s.Settled.Max, s.Attached.IsEmpty ? 0 : s.Attached.Max(a => a.Sequence)));

    /// <summary>Whether (holding, sequence) is attached; a missing shard means the session is gone.</summary>
    public static bool IsAttached(SessionShard? current, string sessionId, Holding holding, long sequence) =>
        current is null ? throw new SessionNotFoundException(sessionId) : current.Attached.Contains(new Attachment(holding, sequence));

    /// <summary>The session ended: the shard attaches nothing more (created ended if it did not exist, which fences a creation under way).</summary>
    public static SessionShard MarkEnded(SessionShard? current) =>
        current is { Ended: true } ? current : (current ?? SessionShard.Empty) with { Ended = true };

    /// <summary>The ended session has told these holdings: forget them; an ended shard with nothing left is deleted.</summary>
    public static SessionShard? Told(SessionShard? current, IReadOnlyCollection<Attachment> told)
    {
        if (current is null)
        {
            return null;
        }

        var s = current with { Attached = current.Attached.Except(told) };
        return s is { Ended: true, Attached.IsEmpty: true } ? null : s;
    }

    private static SessionShard Prune(SessionShard s, long mark)
    {
        var settled = s.Settled;
        if (mark > s.SettledThrough)
        {
            settled = [.. settled.Where(n => n > mark)];
        }

        while (settled.Count > MaxSettledPerShard)
        {
            // Bounded memory: the oldest settled number becomes the mark. Only a request the client gave up long
            // ago and never saw withdrawn could be refused for it, and that is what refusing is for.
            mark = settled.Min;
            settled = settled.Remove(mark);
        }

        return s.SettledThrough == mark && ReferenceEquals(settled, s.Settled) ? s : s with { Settled = settled, SettledThrough = mark };
    }
}
