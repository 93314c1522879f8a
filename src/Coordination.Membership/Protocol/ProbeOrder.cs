namespace Coordination.Membership.Protocol;

/// <summary>
/// Whom this member probes next (SWIM's round-robin over a random permutation, as memberlist does): every
/// member once per round, in an order reshuffled at the start of each round, so a failed member is probed
/// within one round of its failure. A new member goes in at a random place of the current round.
/// </summary>
internal sealed class ProbeOrder(Random random)
{
    private readonly List<MemberId> _order = [];
    private int _next;

    public void Insert(MemberId member) => _order.Insert(random.Next(_order.Count + 1), member);

    /// <summary>The next member to probe, or null when none is live.</summary>
    public MemberId? Next(Func<MemberId, bool> isLive)
    {
        if (!_order.Any(isLive))
        {
            return null;
        }

        while (true)
        {
            if (_next >= _order.Count)
            {
                // A new round: drop the gone, reshuffle (Fisher-Yates), start over.
                _order.RemoveAll(m => !isLive(m));
                for (var i = _order.Count - 1; i > 0; i--)
                {
                    var j = random.Next(i + 1);
                    (_order[i], _order[j]) = (_order[j], _order[i]);
                }

                _next = 0;
            }

            var candidate = _order[_next++];
            if (isLive(candidate))
            {
                return candidate;
            }
        }
    }
}
