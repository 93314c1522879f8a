namespace Coordination.Membership.Protocol;

/// <summary>
/// Updates merged into the view under SWIM's precedence (memberlist's aliveNode, suspectNode, deadNode):
/// suspicions begun and confirmed, refuted when about this member, and declared deaths once their
/// Lifeguard timeout has run out under the death rule.
/// </summary>
internal sealed partial class SwimNode
{
    private readonly Dictionary<MemberId, Suspicion> _suspicions = [];
    private TimeSpan _declareAfter;

    /// <summary>Merges one update into the view under SWIM's precedence, with what follows from it.</summary>
    private void Apply(GossipUpdate update, TimeSpan now, bool declaredHere = false)
    {
        if (update.Member == Self)
        {
            ApplyToSelf(update, now);
            return;
        }

        var current = _view[update.Member];
        if (current is { } c && (!update.State.Supersedes(c) || Faults.BreaksPrecedence(c, update.State)))
        {
            // Same suspicion heard again: an independent confirmation if the accuser is new.
            if (c.Status == MemberStatus.Suspect && update.State.Status == MemberStatus.Suspect && update.State.Incarnation == c.Incarnation
                && update.Accuser is { } accuser && _suspicions.TryGetValue(update.Member, out var suspicion)
                && (suspicion.Confirm(accuser, now) || accuser == Self))
            {
                // Spread new accusers, and our own repeated failures, which keep our vote fresh elsewhere.
                _gossip.Enqueue(update with { State = c });
            }

            return;
        }

        _view = _view.With(update.Member, update.State);
        var statusChanged = current?.Status != update.State.Status || current?.Incarnation != update.State.Incarnation;
        if (current is null)
        {
            _order.Insert(update.Member);
        }

        if (update.State.Status == MemberStatus.Suspect)
        {
            _suspicions[update.Member] = new Suspicion(now, update.State.Incarnation, update.Accuser);
        }
        else
        {
            _suspicions.Remove(update.Member);
        }

        if (statusChanged)
        {
            _gossip.Enqueue(update);
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

        if (s.Status == MemberStatus.Suspect && s.Incarnation >= _self.Incarnation && !Faults.BreaksRefutation)
        {
            // Refute: only this member can raise its incarnation. Being suspected also hints we are slow.
            _self = _self with { Incarnation = s.Incarnation + 1 };
            _view = _view.With(Self, _self);
            _gossip.Enqueue(new GossipUpdate(Self, _self, null));
            _health.Apply(+1);
        }
    }

    /// <summary>Ends suspicions overtaken by the view, and declares dead the suspects whose time ran out under the death rule.</summary>
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

            if (now >= suspicion.Deadline(GroupSize, now, _options) && MayDeclare(member, suspicion, now))
            {
                _suspicions.Remove(member);
                Apply(new GossipUpdate(member, s with { Status = MemberStatus.Dead }, Self), now, declaredHere: true);
            }
        }
    }

    /// <summary>
    /// The death rule: not while back from a stall (what arrived meanwhile is read first), only with
    /// <see cref="ProbeOptions.DeathVotes"/> fresh votes, and only in touch with a majority of the group.
    /// </summary>
    private bool MayDeclare(MemberId suspect, Suspicion suspicion, TimeSpan now) =>
        Faults.BreaksDeathRule
        || (now >= _declareAfter && suspicion.FreshVotes(GroupSize, now, _options) >= _options.DeathVotes && _contact.InTouchWithMajority(suspect, now, _view, GroupSize, _options));
}
