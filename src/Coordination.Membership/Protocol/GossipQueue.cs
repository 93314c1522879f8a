using System.Collections.Immutable;

namespace Coordination.Membership.Protocol;

/// <summary>
/// Updates waiting to be piggybacked on outgoing messages (memberlist's TransmitLimitedQueue): the latest
/// update per member, each carried by at most <see cref="ProbeMath.RetransmitLimit"/> messages for the
/// current group size, least-sent first, and at most <see cref="ProbeOptions.MaxPiggyback"/> per message.
/// </summary>
internal sealed class GossipQueue(ProbeOptions options, Func<int> groupSize)
{
    private readonly Dictionary<MemberId, Pending> _pending = [];

    /// <summary>Queues an update, replacing (and restarting the count of) any older one about the same member.</summary>
    public void Enqueue(GossipUpdate update) => _pending[update.Member] = new Pending(update, 0);

    /// <summary>The updates to carry to <paramref name="to"/>: its own first (so a suspect hears of its suspicion at once), then the least sent.</summary>
    public ImmutableArray<GossipUpdate> Take(MemberId to)
    {
        if (_pending.Count == 0)
        {
            return [];
        }

        var limit = ProbeMath.RetransmitLimit(groupSize(), options);
        var picked = _pending.Values
            .OrderBy(g => g.Update.Member == to ? 0 : 1)
            .ThenBy(g => g.Transmits)
            .Take(options.MaxPiggyback)
            .ToList();
        foreach (var g in picked)
        {
            var transmits = g.Transmits + 1;
            if (transmits >= limit)
            {
                _pending.Remove(g.Update.Member);
            }
            else
            {
                _pending[g.Update.Member] = g with { Transmits = transmits };
            }
        }

        return [.. picked.Select(g => g.Update)];
    }

    private sealed record Pending(GossipUpdate Update, int Transmits);
}
