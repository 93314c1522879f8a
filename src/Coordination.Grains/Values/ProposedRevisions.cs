namespace Coordination.Grains.Values;

/// <summary>
/// The revisions at which one call's change was proposed, across the register's attempts at it. A round that
/// missed its majority is retried from a fresh read and the change applied again; the register keeps the request
/// ids of its latest changes so that a change already chosen is answered as it was, not applied twice. But the
/// earlier attempt may have been chosen (one replica took it and another activation's read found it) and then
/// built upon by more changes than are kept: its request id is gone, and applying it again would apply it twice
/// (an add) or answer as if it found a value it never met (a compare-and-set). Such a call fails with
/// <see cref="OutcomeUnknownException"/> instead. A change that is among the kept ones, or that was only ever
/// proposed at revisions the kept ones still cover or the register has not reached, is known either way.
/// </summary>
/// <remarks>
/// The one piece of state a change function carries between its applications (each call makes its own). It
/// relies on every revision adding one kept entry, so the kept entries are the last revisions without gaps.
/// </remarks>
internal sealed class ProposedRevisions
{
    private long _lowest = long.MaxValue;

    /// <param name="retriedSince">
    /// On a client's retry (its earlier attempt's reply was lost, and that attempt may have been applied by another
    /// activation): the latest revision the client had seen before its first attempt, so the earlier attempt counts
    /// as proposed at any revision after it. Null on a first attempt. Negative: <see cref="CoordinationArgumentException"/>.
    /// </param>
    public ProposedRevisions(long? retriedSince = null)
    {
        if (retriedSince is { } since)
        {
            _lowest = since >= 0 ? since + 1 : throw new CoordinationArgumentException(nameof(retriedSince), $"a retry names the revision it saw before its first attempt, 0 or more, not {since}");
        }
    }

    /// <summary>The change is about to be proposed as <paramref name="revision"/>.</summary>
    public void Proposed(long revision) => _lowest = Math.Min(_lowest, revision);

    /// <summary>
    /// Throws <see cref="OutcomeUnknownException"/> when an earlier attempt at revision r may have been chosen and
    /// forgotten: r is at most the register's <paramref name="current"/> revision and older than
    /// <paramref name="oldestKept"/>, the oldest revision whose request id is kept. Call it only for a request id
    /// that is not among the kept ones.
    /// </summary>
    /// <param name="oldestKept">
    /// Null when no request id was ever forgotten: the register keeps fewer than its window (nothing was dropped
    /// since it was created, so a chosen attempt would be among the kept ones), or it is absent (never written, or
    /// deleted; an absent register starts from the partition's floor, which any deletion in the partition raises, so
    /// its revision says nothing about this key). The attempt then counts as not chosen: for an absent register a
    /// chosen one would have had to be deleted since, after a whole retention of quiet (a counter back at 0, a value
    /// absent and unwatched, a latch released).
    /// </param>
    public void ThrowIfForgotten(string name, Guid requestId, long current, long? oldestKept)
    {
        // A client's retry naming a revision the register has not reached saw an earlier life of it (a latch released,
        // deleted and begun again counts from 0): its first attempt may have been applied anywhere in this one.
        var lowest = _lowest != long.MaxValue && _lowest > current + 1 ? long.MinValue : _lowest;
        if (oldestKept is { } oldest && lowest <= current && lowest < oldest)
        {
            throw new OutcomeUnknownException(
                name,
                requestId,
                lowest == long.MinValue
                    ? $"an earlier attempt at it may have been chosen since the register began again (the caller last saw revision {_lowest - 1}, it is at {current}), and it keeps request ids from revision {oldest} on only"
                    : $"an earlier attempt at it may have been chosen at revision {lowest} or later; the register is at revision {current} and keeps request ids from revision {oldest} on");
        }
    }
}
