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

    /// <summary>
    /// The earliest time at which <see cref="Tick"/> has anything to do, as things stand at <paramref name="now"/>: the
    /// next probe period, the verdict of an acked probe, a relay's nack, the next push-pull. While the probe in flight
    /// is unacked, a suspicion is under way (its deadline moves with the votes it gets) or the node is back from a
    /// stall, <paramref name="now"/>: the host steps it every tick interval, so a pause of this process while a probe
    /// waits for its ack is seen as a stall before the probe is judged (<see cref="ReportStall"/>). A host may sleep
    /// until then, provided it asks again after every call into the node: a message received can bring a deadline
    /// forward (a ping-req starts a relay, gossip a suspicion).
    /// </summary>
    public TimeSpan NextDue(TimeSpan now)
    {
        if (IsOut)
        {
            return TimeSpan.MaxValue;
        }

        if (_stalled || _suspicions.Count > 0 || _round is { Acked: false })
        {
            return now;
        }

        var due = _nextProbeAt < _nextSyncAt ? _nextProbeAt : _nextSyncAt;
        if (_round is { } r && r.End < due)
        {
            due = r.End;
        }

        return _relays.NextNackAt is { } nack && nack < due ? nack : due;
    }

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
