using System.Diagnostics.CodeAnalysis;

namespace Coordination.Membership.Protocol;

/// <summary>
/// The indirect probes this member runs for others (SWIM's ping-req): it pings the target under a sequence
/// number of its own, forwards the target's ack to the requester, and nacks (Lifeguard) if none came a little
/// before the requester's own timeout, so the requester can tell a dead target from its own trouble.
/// </summary>
internal sealed class PingRelays
{
    private readonly Dictionary<long, Relay> _relays = [];

    public void Add(long seq, Relay relay) => _relays[seq] = relay;

    /// <summary>The relay an ack under <paramref name="seq"/> answers, if any; it is done either way.</summary>
    public bool TryComplete(long seq, [MaybeNullWhen(false)] out Relay relay) => _relays.Remove(seq, out relay);

    /// <summary>When the earliest nack is due, if any relay is under way.</summary>
    public TimeSpan? NextNackAt
    {
        get
        {
            TimeSpan? next = null;
            foreach (var relay in _relays.Values)
            {
                if (next is null || relay.NackAt < next)
                {
                    next = relay.NackAt;
                }
            }

            return next;
        }
    }

    /// <summary>Relays whose nack is due, removed.</summary>
    public List<Relay> Expire(TimeSpan now)
    {
        var due = _relays.Where(r => now >= r.Value.NackAt).ToList();
        foreach (var (seq, _) in due)
        {
            _relays.Remove(seq);
        }

        return due.ConvertAll(r => r.Value);
    }
}

/// <param name="RequesterSeq">The sequence number of the requester's own probe, which the forwarded ack or nack carries.</param>
internal sealed record Relay(MemberId Requester, long RequesterSeq, MemberId Target, TimeSpan NackAt);
