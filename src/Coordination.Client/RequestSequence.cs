namespace Coordination.Client;

/// <summary>
/// Numbers a session's requests (acquires and campaigns) 1, 2, 3, ... and keeps the session's settled-through
/// mark: the highest number at or below which no request can still change the cluster behind the client's back.
/// The cluster refuses a late copy of any request at or below the mark (unless that very request is attached to the
/// session), so an abandoned attempt that arrives after a million newer requests is recognised as old, and the
/// session's memory of finished requests stays as small as the span of numbers still unsettled.
/// </summary>
/// <remarks>
/// A number is unsettled from the moment it is handed out until one of these is true:
/// <list type="bullet">
/// <item>a reply said granted or queued: the cluster has the request attached, and a late copy of it is a retry of
/// a live request. From then on it no longer holds the mark back, even while its lock is held for months;</item>
/// <item>the cluster's answer was final and no earlier attempt of the request is left unanswered (one that was
/// abandoned, by a call timeout or a lost gateway, may still execute later): "not available", or a typed refusal;</item>
/// <item>its withdrawal (cancel) was acknowledged by the cluster.</item>
/// </list>
/// The mark is the lowest unsettled number minus one, or the highest number handed out when none is unsettled. A
/// new number is always above the mark, so the mark only grows; it moves past each number once, so keeping it
/// costs O(1) amortised per request. A lost session settles nothing: it ended, and everything with it.
/// </remarks>
internal sealed class RequestSequence
{
    private readonly Lock _gate = new();
    private readonly HashSet<long> _unsettled = [];
    private long _issued;
    private long _settledThrough;

    /// <summary>Every request numbered up to this one is settled or known attached (0 for none); only grows.</summary>
    public long SettledThrough
    {
        get
        {
            lock (_gate)
            {
                return _settledThrough;
            }
        }
    }

    /// <summary>How many numbers are handed out and not settled yet.</summary>
    public int Unsettled
    {
        get
        {
            lock (_gate)
            {
                return _unsettled.Count;
            }
        }
    }

    /// <summary>The number of a new request, unsettled until <see cref="Settle"/>; its retries reuse it.</summary>
    public long Next()
    {
        lock (_gate)
        {
            var number = ++_issued;
            _unsettled.Add(number);
            return number;
        }
    }

    /// <summary>
    /// Marks <paramref name="number"/> settled (attached, answered for good, or withdrawn and acknowledged) and moves
    /// the mark past every settled number in a row. Settling a number again does nothing.
    /// </summary>
    public void Settle(long number)
    {
        lock (_gate)
        {
            if (number < 1 || number > _issued)
            {
                throw new ArgumentOutOfRangeException(nameof(number), number, $"Only a number handed out (1 to {_issued}) can be settled.");
            }

            if (!_unsettled.Remove(number))
            {
                return;
            }

            while (_settledThrough < _issued && !_unsettled.Contains(_settledThrough + 1))
            {
                _settledThrough++;
            }
        }
    }
}
