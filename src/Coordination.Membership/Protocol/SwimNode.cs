using System.Collections.Immutable;

namespace Coordination.Membership.Protocol;

/// <summary>
/// One member's side of SWIM with Lifeguard, as a deterministic state machine: the host (or a simulation)
/// calls <see cref="Tick"/> on a timer and <see cref="Receive"/> per message, passing the time from its own
/// monotonic clock, then sends what <see cref="DrainOutbox"/> returns and acts on <see cref="DrainChanges"/>.
/// No clocks, threads or sockets in here; randomness comes from the seeded <see cref="Random"/>.
/// </summary>
/// <remarks>
/// Per probe period: ping the next member of a shuffled round-robin order; if no ack within the probe
/// timeout, ask up to k peers to ping it (they nack if they hear nothing); if still no ack by the end of the
/// period, suspect it. A suspicion carries the member's incarnation; the member refutes by bumping its
/// incarnation, and every message to a suspect carries the suspicion so it hears at once. A suspicion
/// ends in death when its Lifeguard timeout (long, shrinking with independent confirmations) has run out
/// and at least <see cref="ProbeOptions.DeathVotes"/> members suspected it. Missed acks and nacks, refuted
/// suspicions of itself and host stalls raise the local-health score, which stretches this node's own
/// intervals and timeouts. Changes spread by piggybacked gossip (each sent a bounded number of times) and
/// by periodic push-pull of the whole view.
/// </remarks>
public sealed class SwimNode
{
    /// <summary>Deliberately broken variants, for the simulation's controls only: each must be caught.</summary>
    internal enum Breakage
    {
        None,

        /// <summary>A suspect never refutes.</summary>
        NoRefutation,

        /// <summary>Any member declares a death on its own, in touch with the group or not, with stale votes.</summary>
        LoneAccuser,

        /// <summary>Precedence broken: a higher incarnation's alive does not override a suspicion, so refutations are lost.</summary>
        AliveNeverOverridesSuspect,
    }

    internal Breakage Broken { get; init; }

    private readonly ProbeOptions _options;
    private readonly Random _random;
    private readonly Dictionary<MemberId, Suspicion> _suspicions = [];
    private readonly Dictionary<MemberId, PendingGossip> _gossip = [];
    private readonly Dictionary<long, Relay> _relays = [];
    private readonly Dictionary<MemberId, TimeSpan> _rtts = [];
    private readonly Dictionary<MemberId, TimeSpan> _lastHeard = [];
    private readonly List<Outgoing> _outbox = [];
    private readonly List<MemberChange> _changes = [];
    private readonly List<MemberId> _order = [];
    private MembershipView _view;
    private MemberState _self;
    private Round? _round;
    private int _next;
    private long _seq;
    private TimeSpan _nextProbeAt;
    private TimeSpan _nextSyncAt;
    private TimeSpan _declareAfter;
    private bool _stalled;

    public SwimNode(MemberId self, ProbeOptions options, Random random, TimeSpan now)
    {
        Self = self;
        _options = options;
        _random = random;
        _self = MemberState.Joined;
        _view = MembershipView.Empty.With(self, _self);
        _nextProbeAt = now;
        _nextSyncAt = now + options.PushPullInterval;
    }

    public MemberId Self { get; }

    /// <summary>This node's current view (its own entry included).</summary>
    public MembershipView View => _view;

    /// <summary>Lifeguard's local-health score: 0 is healthy; intervals and timeouts are multiplied by score + 1.</summary>
    public int LocalHealth { get; private set; }

    /// <summary>True once the group declared this member dead (or it left): it stops probing and answering.</summary>
    public bool IsOut => _self.IsFinal;

    public long MessagesSent { get; private set; }

    public long MessagesReceived { get; private set; }

    /// <summary>Members that are neither dead nor left.</summary>
    public int LiveCount => _view.Members.Values.Count(s => !s.IsFinal);

    /// <summary>Adds a member learned from outside the protocol (Orleans' membership) as alive, if it is new.</summary>
    public void Add(MemberId member, TimeSpan now)
    {
        if (member != Self && _view[member] is null)
        {
            Apply(new GossipUpdate(member, MemberState.Joined, null), now);
        }
    }

    /// <summary>Records a member that outside knowledge says is gone for good (dead in Orleans, or leaving gracefully).</summary>
    public void Remove(MemberId member, MemberStatus status, TimeSpan now)
    {
        if (status is not (MemberStatus.Dead or MemberStatus.Left))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "only Dead or Left");
        }

        var current = _view[member] ?? MemberState.Joined;
        if (!current.IsFinal)
        {
            Apply(new GossipUpdate(member, current with { Status = status }, null), now);
        }
    }

    /// <summary>This member is leaving gracefully: tells the others, then stops.</summary>
    public void Leave(TimeSpan now)
    {
        if (IsOut)
        {
            return;
        }

        _self = _self with { Status = MemberStatus.Left };
        _view = _view.With(Self, _self);
        Enqueue(new GossipUpdate(Self, _self, null));
        foreach (var member in LivePeers())
        {
            Send(member, ProbeKind.Sync, 0, member, view: _view);
        }
    }

    /// <summary>
    /// The host noticed it ran late (thread-pool starvation, GC pause, a stopped process resuming). Beyond a
    /// probe timeout this counts against local health, and the probe in flight is dropped unjudged: a
    /// missing ack says nothing about the target when this member was not running to receive it.
    /// </summary>
    public void ReportStall(TimeSpan lateness)
    {
        if (lateness > _options.ProbeTimeout)
        {
            RaiseHealth();
            _round = null;
            _stalled = true;
        }
    }

    public IReadOnlyList<Outgoing> DrainOutbox()
    {
        var drained = _outbox.ToArray();
        _outbox.Clear();
        return drained;
    }

    public IReadOnlyList<MemberChange> DrainChanges()
    {
        var drained = _changes.ToArray();
        _changes.Clear();
        return drained;
    }

    /// <summary>Suspicions under way: member, since, deadline now, independent suspecters.</summary>
    public IEnumerable<(MemberId Member, TimeSpan Since, TimeSpan Deadline, int Confirmations)> Suspicions(TimeSpan now) =>
        _suspicions.Select(s => (s.Key, s.Value.Since, s.Value.Since + ProbeMath.SuspicionTimeout(GroupSize, FreshVotes(s.Value, now) - 1, _options), FreshVotes(s.Value, now)));

    /// <summary>Round-trip time of the last direct ack from each member.</summary>
    public IReadOnlyDictionary<MemberId, TimeSpan> RoundTrips => _rtts;

    private int GroupSize => LiveCount;

    /// <summary>Runs everything due by <paramref name="now"/>: probe steps, suspicion deadlines, relay nacks, push-pull.</summary>
    public void Tick(TimeSpan now)
    {
        if (IsOut)
        {
            return;
        }

        if (_stalled)
        {
            // Back from a stall: let what arrived meanwhile (refutations among it) be read before judging anyone.
            _stalled = false;
            _declareAfter = now + ProbeMath.Scaled(_options.ProbeInterval, LocalHealth);
        }

        StepRound(now);
        ExpireRelays(now);
        ExpireSuspicions(now);
        if (now >= _nextSyncAt)
        {
            _nextSyncAt = now + _options.PushPullInterval;
            if (RandomPeer(exclude: null) is { } peer)
            {
                Send(peer, ProbeKind.Sync, 0, peer, view: _view);
            }
        }
    }

    public void Receive(ProbeMessage message, TimeSpan now)
    {
        if (IsOut)
        {
            return;
        }

        MessagesReceived++;
        if (_view[message.From] is { Status: MemberStatus.Dead })
        {
            // A member we hold dead is still talking (it was paused, or cut off): tell it, answer nothing else.
            Send(message.From, ProbeKind.Sync, 0, message.From, view: _view, isReply: true);
            return;
        }

        _lastHeard[message.From] = now;
        Apply(new GossipUpdate(message.From, message.FromState, null), now);
        foreach (var update in message.Gossip)
        {
            Apply(update, now);
        }

        if (IsOut)
        {
            return;
        }

        switch (message.Kind)
        {
            case ProbeKind.Ping when message.Target == Self:
                Send(message.From, ProbeKind.Ack, message.Seq, message.From);
                break;
            case ProbeKind.Ack:
                OnAck(message, now);
                break;
            case ProbeKind.PingReq when message.Target != Self:
                var seq = ++_seq;
                // Nack a little before the requester's own timeout, so the nack reaches it within its period.
                _relays[seq] = new Relay(message.From, message.Seq, message.Target, now + (ProbeMath.Scaled(_options.ProbeTimeout, LocalHealth) * 0.8));
                Send(message.Target, ProbeKind.Ping, seq, message.Target);
                break;
            case ProbeKind.Nack:
                if (_round is { } r && r.Seq == message.Seq)
                {
                    r.Nacks++;
                }

                break;
            case ProbeKind.Sync when message.View is not null:
                foreach (var (member, state) in message.View.Members)
                {
                    // No accuser: relaying a view is not suspecting, so it confirms nothing.
                    Apply(new GossipUpdate(member, state, null), now);
                }

                if (!message.IsReply && !IsOut)
                {
                    Send(message.From, ProbeKind.Sync, 0, message.From, view: _view, isReply: true);
                }

                break;
        }
    }

    private void StepRound(TimeSpan now)
    {
        if (_round is { } r)
        {
            if (!r.Acked && !r.IndirectSent && now >= r.IndirectAt)
            {
                r.IndirectSent = true;
                foreach (var peer in RandomPeers(_options.IndirectChecks, exclude: r.Target))
                {
                    r.NacksExpected++;
                    Send(peer, ProbeKind.PingReq, r.Seq, r.Target);
                }
            }

            if (now < r.End)
            {
                return;
            }

            _round = null;
            if (r.Acked)
            {
                LowerHealth();
            }
            else
            {
                RaiseHealth();
                if (r.IndirectSent && r.Nacks < r.NacksExpected)
                {
                    // Peers did not even answer us: the trouble may well be ours (Lifeguard).
                    RaiseHealth();
                }

                if (_view[r.Target] is { IsFinal: false } state && state.Incarnation == r.Incarnation)
                {
                    Apply(new GossipUpdate(r.Target, state with { Status = MemberStatus.Suspect }, Self), now);
                }
            }
        }

        if (now < _nextProbeAt)
        {
            return;
        }

        _self = _self with { Heartbeat = _self.Heartbeat + 1 };
        _view = _view.With(Self, _self);
        var period = ProbeMath.Scaled(_options.ProbeInterval, LocalHealth);
        _nextProbeAt = now + period;
        if (NextTarget() is not { } target)
        {
            return;
        }

        var seq = ++_seq;
        _round = new Round(target, seq, _view[target]!.Value.Incarnation, now, now + ProbeMath.Scaled(_options.ProbeTimeout, LocalHealth), now + period);
        Send(target, ProbeKind.Ping, seq, target);
    }

    private void OnAck(ProbeMessage ack, TimeSpan now)
    {
        if (_round is { } r && r.Seq == ack.Seq && !r.Acked)
        {
            r.Acked = true;
            if (ack.From == r.Target)
            {
                _rtts[r.Target] = now - r.Start;
            }

            return;
        }

        if (_relays.Remove(ack.Seq, out var relay) && ack.From == relay.Target)
        {
            Send(relay.Requester, ProbeKind.Ack, relay.RequesterSeq, relay.Target);
        }
    }

    private void ExpireRelays(TimeSpan now)
    {
        foreach (var (seq, relay) in _relays.Where(r => now >= r.Value.NackAt).ToList())
        {
            _relays.Remove(seq);
            Send(relay.Requester, ProbeKind.Nack, relay.RequesterSeq, relay.Target);
        }
    }

    private void ExpireSuspicions(TimeSpan now)
    {
        foreach (var (member, suspicion) in _suspicions.ToList())
        {
            var state = _view[member];
            if (state is not { Status: MemberStatus.Suspect } s || s.Incarnation != suspicion.Incarnation)
            {
                _suspicions.Remove(member);
                continue;
            }

            var votes = FreshVotes(suspicion, now);
            var deadline = suspicion.Since + ProbeMath.SuspicionTimeout(GroupSize, votes - 1, _options);
            var allowed = Broken == Breakage.LoneAccuser || (now >= _declareAfter && votes >= _options.DeathVotes && InTouchWithMajority(member, now));
            if (now >= deadline && allowed)
            {
                _suspicions.Remove(member);
                Apply(new GossipUpdate(member, s with { Status = MemberStatus.Dead }, Self), now, declaredHere: true);
            }
        }
    }

    /// <summary>
    /// Suspicions heard within the shortest suspicion time. A vote older than that is stale: it may have
    /// been refuted in gossip this member did not get (it was cut off), so it cannot help condemn anyone.
    /// Live accusers keep voting as their probes keep failing.
    /// </summary>
    private int FreshVotes(Suspicion suspicion, TimeSpan now)
    {
        var window = ProbeMath.SuspicionMin(GroupSize, _options);
        return suspicion.Accusers.Values.Count(at => now - at < window);
    }

    /// <summary>
    /// Only a member that has lately heard directly from a majority of the group (itself included, the
    /// suspect not) may declare a death: an isolated member, or a minority side of a partition, never
    /// condemns the rest.
    /// </summary>
    private bool InTouchWithMajority(MemberId suspect, TimeSpan now)
    {
        var window = ProbeMath.ContactWindow(GroupSize, _options);
        var heard = _lastHeard.Count(h => h.Key != suspect && now - h.Value <= window && _view[h.Key] is { IsFinal: false });
        return (heard + 1) * 2 > GroupSize;
    }

    /// <summary>Merges one update into the view under SWIM's precedence, with what follows from it.</summary>
    private void Apply(GossipUpdate update, TimeSpan now, bool declaredHere = false)
    {
        if (update.Member == Self)
        {
            ApplyToSelf(update, now);
            return;
        }

        var current = _view[update.Member];
        if (Broken == Breakage.AliveNeverOverridesSuspect && current is { Status: MemberStatus.Suspect } && update.State.Status == MemberStatus.Alive)
        {
            return;
        }

        if (current is { } c && !update.State.Supersedes(c))
        {
            // Same suspicion heard again: an independent confirmation if the accuser is new.
            if (c.Status == MemberStatus.Suspect && update.State.Status == MemberStatus.Suspect && update.State.Incarnation == c.Incarnation
                && update.Accuser is { } accuser && _suspicions.TryGetValue(update.Member, out var suspicion))
            {
                var isNew = suspicion.Accusers.TryAdd(accuser, now);
                suspicion.Accusers[accuser] = now;
                if (isNew || accuser == Self)
                {
                    // Spread new accusers, and our own repeated failures, which keep our vote fresh elsewhere.
                    Enqueue(update with { State = c });
                }
            }

            return;
        }

        _view = _view.With(update.Member, update.State);
        var statusChanged = current?.Status != update.State.Status || current?.Incarnation != update.State.Incarnation;
        if (current is null)
        {
            _order.Insert(_random.Next(_order.Count + 1), update.Member);
        }

        switch (update.State.Status)
        {
            case MemberStatus.Suspect:
                var accusers = new Dictionary<MemberId, TimeSpan>();
                if (update.Accuser is { } a)
                {
                    accusers[a] = now;
                }

                _suspicions[update.Member] = new Suspicion(now, update.State.Incarnation, accusers);
                break;
            default:
                _suspicions.Remove(update.Member);
                break;
        }

        if (statusChanged)
        {
            Enqueue(update);
            _changes.Add(new MemberChange(update.Member, current?.Status, update.State, declaredHere, now));
        }
    }

    private void ApplyToSelf(GossipUpdate update, TimeSpan now)
    {
        var s = update.State;
        if (s.IsFinal && s.Status == MemberStatus.Dead)
        {
            // The group declared us dead: final for this member; the host must not come back as it.
            var was = _self.Status;
            _self = s;
            _view = _view.With(Self, _self);
            _round = null;
            _changes.Add(new MemberChange(Self, was, s, false, now));
            return;
        }

        if (s.Status == MemberStatus.Suspect && s.Incarnation >= _self.Incarnation && Broken != Breakage.NoRefutation)
        {
            // Refute: only this member can raise its incarnation. Being suspected also hints we are slow.
            _self = _self with { Incarnation = s.Incarnation + 1 };
            _view = _view.With(Self, _self);
            Enqueue(new GossipUpdate(Self, _self, null));
            RaiseHealth();
        }
    }

    private void Enqueue(GossipUpdate update) => _gossip[update.Member] = new PendingGossip(update, 0);

    /// <summary>Piggybacks the least-sent gossip, the recipient's own first (so a suspect hears of its suspicion at once).</summary>
    private ImmutableArray<GossipUpdate> Piggyback(MemberId to)
    {
        if (_gossip.Count == 0)
        {
            return [];
        }

        var limit = ProbeMath.RetransmitLimit(GroupSize, _options);
        var picked = _gossip.Values
            .OrderBy(g => g.Update.Member == to ? 0 : 1)
            .ThenBy(g => g.Transmits)
            .Take(_options.MaxPiggyback)
            .ToList();
        foreach (var g in picked)
        {
            var transmits = g.Transmits + 1;
            if (transmits >= limit)
            {
                _gossip.Remove(g.Update.Member);
            }
            else
            {
                _gossip[g.Update.Member] = g with { Transmits = transmits };
            }
        }

        return [.. picked.Select(g => g.Update)];
    }

    private void Send(MemberId to, ProbeKind kind, long seq, MemberId target, MembershipView? view = null, bool isReply = false)
    {
        MessagesSent++;
        var gossip = Piggyback(to);
        if (_view[to] is { Status: MemberStatus.Suspect } suspected && !gossip.Any(g => g.Member == to))
        {
            // Lifeguard's buddy system: whatever we send a suspect tells it that it is suspected, so it can refute at once.
            gossip = gossip.Insert(0, new GossipUpdate(to, suspected, Self));
        }

        _outbox.Add(new Outgoing(to, new ProbeMessage(kind, seq, Self, _self, target, gossip, view, isReply)));
    }

    private MemberId? NextTarget()
    {
        var live = _order.Count(m => _view[m] is { IsFinal: false });
        if (live == 0)
        {
            return null;
        }

        while (true)
        {
            if (_next >= _order.Count)
            {
                // A new round: drop the gone, reshuffle (Fisher-Yates), start over.
                _order.RemoveAll(m => _view[m] is not { IsFinal: false });
                for (var i = _order.Count - 1; i > 0; i--)
                {
                    var j = _random.Next(i + 1);
                    (_order[i], _order[j]) = (_order[j], _order[i]);
                }

                _next = 0;
            }

            var candidate = _order[_next++];
            if (_view[candidate] is { IsFinal: false })
            {
                return candidate;
            }
        }
    }

    private IEnumerable<MemberId> LivePeers() => _view.Members.Where(m => m.Key != Self && !m.Value.IsFinal).Select(m => m.Key);

    private MemberId? RandomPeer(MemberId? exclude)
    {
        var peers = LivePeers().Where(m => m != exclude).ToList();
        return peers.Count == 0 ? null : peers[_random.Next(peers.Count)];
    }

    private List<MemberId> RandomPeers(int count, MemberId exclude)
    {
        var peers = LivePeers().Where(m => m != exclude && _view[m]!.Value.Status == MemberStatus.Alive).ToList();
        for (var i = 0; i < Math.Min(count, peers.Count); i++)
        {
            var j = i + _random.Next(peers.Count - i);
            (peers[i], peers[j]) = (peers[j], peers[i]);
        }

        return peers.Take(count).ToList();
    }

    private void RaiseHealth() => LocalHealth = Math.Min(_options.MaxLocalHealth, LocalHealth + 1);

    private void LowerHealth() => LocalHealth = Math.Max(0, LocalHealth - 1);

    private sealed class Round(MemberId target, long seq, long incarnation, TimeSpan start, TimeSpan indirectAt, TimeSpan end)
    {
        public MemberId Target { get; } = target;

        public long Seq { get; } = seq;

        public long Incarnation { get; } = incarnation;

        public TimeSpan Start { get; } = start;

        public TimeSpan IndirectAt { get; } = indirectAt;

        public TimeSpan End { get; } = end;

        public bool Acked { get; set; }

        public bool IndirectSent { get; set; }

        public int NacksExpected { get; set; }

        public int Nacks { get; set; }
    }

    private sealed record Relay(MemberId Requester, long RequesterSeq, MemberId Target, TimeSpan NackAt);

    private sealed record Suspicion(TimeSpan Since, long Incarnation, Dictionary<MemberId, TimeSpan> Accusers);

    private sealed record PendingGossip(GossipUpdate Update, int Transmits);
}
