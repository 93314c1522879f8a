namespace Coordination.Membership.Protocol;

/// <summary>
/// One member's side of SWIM with Lifeguard, as a deterministic state machine: the host (or a simulation)
/// calls <see cref="Tick"/> on a timer and <see cref="Receive"/> per message, passing the time from its own
/// monotonic clock, then sends what <see cref="DrainOutbox"/> returns and acts on <see cref="DrainChanges"/>.
/// No clocks, threads or sockets in here; randomness comes from the seeded <see cref="Random"/>.
/// </summary>
/// <remarks>
/// <para>
/// Per probe period: ping the next member of a shuffled round-robin order; if no ack within the probe
/// timeout, ask up to k peers to ping it (they nack if they hear nothing); if still no ack by the end of the
/// period, suspect it. A suspicion carries the member's incarnation; the member refutes by bumping its
/// incarnation, and every message to a suspect carries the suspicion so it hears at once. A suspicion
/// ends in death when its Lifeguard timeout (long, shrinking with independent confirmations) has run out
/// and at least <see cref="ProbeOptions.DeathVotes"/> members suspected it. Missed acks and nacks, refuted
/// suspicions of itself and host stalls raise the local-health score, which stretches this node's own
/// intervals and timeouts. Changes spread by piggybacked gossip (each sent a bounded number of times) and
/// by periodic push-pull of the whole view.
/// </para>
/// <para>
/// Laid out as hashicorp/memberlist is: the node coordinates (this file: its entry points and messages,
/// <c>SwimNode.Probing.cs</c>: the probe period, <c>SwimNode.Merge.cs</c>: updates merged under SWIM's
/// precedence and deaths declared), and each mechanism is a type of its own: <see cref="ProbeOrder"/>,
/// <see cref="ProbeRound"/>, <see cref="PingRelays"/>, <see cref="Suspicion"/>, <see cref="GossipQueue"/>,
/// <see cref="LocalHealth"/>, <see cref="RecentContact"/>, <see cref="PeerSampling"/>. The deliberately
/// broken variants enter only through <see cref="Faults"/>. Every random draw is made in a fixed order,
/// so a seed replays a run exactly.
/// </para>
/// </remarks>
internal sealed partial class SwimNode
{
    private readonly ProbeOptions _options;
    private readonly Random _random;
    private readonly LocalHealth _health;
    private readonly ProbeOrder _order;
    private readonly GossipQueue _gossip;
    private readonly RecentContact _contact = new();
    private readonly List<Outgoing> _outbox = [];
    private readonly List<MemberChange> _changes = [];
    private MembershipView _view;
    private MemberState _self;
    private TimeSpan _nextSyncAt;
    private bool _stalled;

    public SwimNode(MemberId self, ProbeOptions options, Random random, TimeSpan now)
    {
        Self = self;
        _options = options;
        _random = random;
        _health = new LocalHealth(options.MaxLocalHealth);
        _order = new ProbeOrder(random);
        _gossip = new GossipQueue(options, () => GroupSize);
        _self = MemberState.Joined;
        _view = MembershipView.Empty.With(self, _self);
        _nextProbeAt = now;
        _nextSyncAt = now + options.PushPullInterval;
    }

    public MemberId Self { get; }

    /// <summary>This node's current view (its own entry included).</summary>
    public MembershipView View => _view;

    /// <summary>Lifeguard's local-health score: 0 is healthy; intervals and timeouts are multiplied by score + 1.</summary>
    public int LocalHealth => _health.Score;

    /// <summary>True once the group declared this member dead (or it left): it stops probing and answering.</summary>
    public bool IsOut => _self.IsFinal;

    public long MessagesSent { get; private set; }

    public long MessagesReceived { get; private set; }

    /// <summary>Members that are neither dead nor left.</summary>
    public int LiveCount => _view.Members.Values.Count(s => !s.IsFinal);

    /// <summary>The deliberately broken variants' seam, for the simulation's controls only; <see cref="SwimFaults.None"/> otherwise.</summary>
    internal SwimFaults Faults { get; init; } = SwimFaults.None;

    private int GroupSize => LiveCount;

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
    public void Leave()
    {
        if (IsOut)
        {
            return;
        }

        _self = _self with { Status = MemberStatus.Left };
        _view = _view.With(Self, _self);
        _gossip.Enqueue(new GossipUpdate(Self, _self, null));
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
            _health.Apply(+1);
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
        _suspicions.Select(s => (s.Key, s.Value.Since, s.Value.Deadline(GroupSize, now, _options), s.Value.FreshVotes(GroupSize, now, _options)));

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
            _declareAfter = now + _health.Scale(_options.ProbeInterval);
        }

        StepRound(now);
        ExpireRelays(now);
        ExpireSuspicions(now);
        if (now >= _nextSyncAt)
        {
            _nextSyncAt = now + _options.PushPullInterval;
            if (PeerSampling.One(_random, LivePeers()) is { } peer)
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

        _contact.Heard(message.From, now);
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
                OnPingReq(message, now);
                break;
            case ProbeKind.Nack:
                OnNack(message);
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

    private void Send(MemberId to, ProbeKind kind, long seq, MemberId target, MembershipView? view = null, bool isReply = false)
    {
        MessagesSent++;
        var gossip = _gossip.Take(to);
        if (_view[to] is { Status: MemberStatus.Suspect } suspected && !gossip.Any(g => g.Member == to))
        {
            // Lifeguard's buddy system: whatever we send a suspect tells it that it is suspected, so it can refute at once.
            gossip = gossip.Insert(0, new GossipUpdate(to, suspected, Self));
        }

        _outbox.Add(new Outgoing(to, new ProbeMessage(kind, seq, Self, _self, target, gossip, view, isReply)));
    }

    private bool IsLive(MemberId member) => _view[member] is { IsFinal: false };

    private IEnumerable<MemberId> LivePeers() => _view.Members.Where(m => m.Key != Self && !m.Value.IsFinal).Select(m => m.Key);
}
