namespace Coordination.Membership.Protocol;

/// <summary>
/// One suspicion under way, as this member holds it (memberlist's suspicion, Lifeguard's LHA-Suspicion): the
/// suspect's incarnation, when this member began to suspect it, and each accuser with when it last accused.
/// The deadline starts at the longest suspicion and shrinks towards the shortest as independent accusers
/// confirm it (<see cref="ProbeMath.SuspicionTimeout"/>); only fresh votes count, towards the deadline and
/// towards <see cref="ProbeOptions.DeathVotes"/>.
/// </summary>
internal sealed class Suspicion
{
    private readonly Dictionary<MemberId, TimeSpan> _accusers = [];

    /// <param name="accuser">Who raised it, or null when it arrived without one (in a relayed view).</param>
    public Suspicion(TimeSpan since, long incarnation, MemberId? accuser)
    {
        Since = since;
        Incarnation = incarnation;
        if (accuser is { } a)
        {
            _accusers[a] = since;
        }
    }

    public TimeSpan Since { get; }

    /// <summary>The suspect's incarnation this suspicion is about; a refutation (a higher one) ends it.</summary>
    public long Incarnation { get; }

    /// <summary>Counts (or refreshes) a vote of <paramref name="accuser"/>; true if it is a new, independent one.</summary>
    public bool Confirm(MemberId accuser, TimeSpan now)
    {
        var isNew = _accusers.TryAdd(accuser, now);
        _accusers[accuser] = now;
        return isNew;
    }

    /// <summary>
    /// Accusations heard within the shortest suspicion time. A vote older than that is stale: it may have
    /// been refuted in gossip this member did not get (it was cut off), so it cannot help condemn anyone.
    /// Live accusers keep voting as their probes keep failing.
    /// </summary>
    public int FreshVotes(int groupSize, TimeSpan now, ProbeOptions options)
    {
        var window = ProbeMath.SuspicionMin(groupSize, options);
        return _accusers.Values.Count(at => now - at < window);
    }

    /// <summary>When the suspicion runs out, given the fresh votes now (the first accuser is not a confirmation).</summary>
    public TimeSpan Deadline(int groupSize, TimeSpan now, ProbeOptions options) =>
        Since + ProbeMath.SuspicionTimeout(groupSize, FreshVotes(groupSize, now, options) - 1, options);
}
