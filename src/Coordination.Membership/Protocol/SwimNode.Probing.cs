namespace Coordination.Membership.Protocol;

/// <summary>
/// The probe period (SWIM's failure detector, memberlist's probeNode): this member's own probe of the next
/// member in <see cref="ProbeOrder"/>, judged at the end of the period, and the indirect probes it runs
/// for others.
/// </summary>
internal sealed partial class SwimNode
{
    private readonly PingRelays _relays = new();
    private readonly Dictionary<MemberId, TimeSpan> _rtts = [];
    private ProbeRound? _round;
    private long _seq;
    private TimeSpan _nextProbeAt;

    /// <summary>Round-trip time of the last direct ack from each member.</summary>
    public IReadOnlyDictionary<MemberId, TimeSpan> RoundTrips => _rtts;

    /// <summary>Moves the probe in flight on (indirect probes, then its verdict), and starts the next period's when due.</summary>
    private void StepRound(TimeSpan now)
    {
        if (_round is { } r)
        {
            if (r.StartIndirect(now))
            {
                foreach (var peer in PeerSampling.Some(_random, LivePeers().Where(m => m != r.Target && _view[m]!.Value.Status == MemberStatus.Alive), _options.IndirectChecks))
                {
                    r.PingReqSent();
                    Send(peer, ProbeKind.PingReq, r.Seq, r.Target);
                }
            }

            if (now < r.End)
            {
                return;
            }

            _round = null;
            _health.Apply(r.HealthDelta);
            if (!r.Acked && _view[r.Target] is { IsFinal: false } state && state.Incarnation == r.Incarnation)
            {
                Apply(new GossipUpdate(r.Target, state with { Status = MemberStatus.Suspect }, Self), now);
            }
        }

        if (now < _nextProbeAt)
        {
            return;
        }

        _self = _self with { Heartbeat = _self.Heartbeat + 1 };
        _view = _view.With(Self, _self);
        var period = _health.Scale(_options.ProbeInterval);
        _nextProbeAt = now + period;
        if (_order.Next(IsLive) is not { } target)
        {
            return;
        }

        var seq = ++_seq;
        _round = new ProbeRound(target, seq, _view[target]!.Value.Incarnation, now, now + _health.Scale(_options.ProbeTimeout), now + period);
        Send(target, ProbeKind.Ping, seq, target);
    }

    private void OnAck(ProbeMessage ack, TimeSpan now)
    {
        if (_round is { } r && r.Seq == ack.Seq && r.TryAck())
        {
            if (ack.From == r.Target)
            {
                _rtts[r.Target] = now - r.Start;
                MembershipMetrics.ProbeRoundTrip.Record((now - r.Start).TotalMilliseconds);
            }

            return;
        }

        if (_relays.TryComplete(ack.Seq, out var relay) && ack.From == relay.Target)
        {
            Send(relay.Requester, ProbeKind.Ack, relay.RequesterSeq, relay.Target);
        }
    }

    private void OnNack(ProbeMessage nack)
    {
        if (_round is { } r && r.Seq == nack.Seq)
        {
            r.Nacked();
        }
    }

    private void OnPingReq(ProbeMessage request, TimeSpan now)
    {
        var seq = ++_seq;
        // Nack a little before the requester's own timeout, so the nack reaches it within its period.
        _relays.Add(seq, new Relay(request.From, request.Seq, request.Target, now + (_health.Scale(_options.ProbeTimeout) * 0.8)));
        Send(request.Target, ProbeKind.Ping, seq, request.Target);
    }

    private void ExpireRelays(TimeSpan now)
    {
        foreach (var relay in _relays.Expire(now))
        {
            Send(relay.Requester, ProbeKind.Nack, relay.RequesterSeq, relay.Target);
        }
    }
}
