using Coordination.Membership.Protocol;

namespace Coordination.Tests.Membership;

/// <summary>The node's mechanisms one by one (local preset: 250 ms interval, 100 ms timeout, multiplier 4, max health 8).</summary>
public sealed class SwimMechanismTests
{
    private static readonly ProbeOptions Local = ProbeOptions.Local();

    private static MemberId M(int i) => new($"m{i}");

    [Theory]
    [InlineData(new[] { 1 }, 1)]
    [InlineData(new[] { 1, 1, -1 }, 1)]
    [InlineData(new[] { -1, -1 }, 0)] // never below healthy
    [InlineData(new[] { 2, 2, 2, 2, 2 }, 8)] // never above the maximum
    [InlineData(new[] { 2, 2, 2, 2, 2, -1 }, 7)]
    public void Local_health_stays_between_healthy_and_its_maximum(int[] deltas, int score)
    {
        var health = new LocalHealth(Local.MaxLocalHealth);
        foreach (var delta in deltas)
        {
            health.Apply(delta);
        }

        Assert.Equal(score, health.Score);
        Assert.Equal(Local.ProbeInterval * (score + 1), health.Scale(Local.ProbeInterval));
    }

    [Theory]
    [InlineData(true, false, 0, 0, -1)] // acked: healthier
    [InlineData(false, false, 0, 0, 1)] // missed, no indirect probe sent
    [InlineData(false, true, 3, 3, 1)] // missed, the peers nacked: the target's trouble
    [InlineData(false, true, 3, 1, 2)] // missed, the peers silent too: maybe ours
    public void A_probe_round_judges_its_own_members_health(bool acked, bool indirect, int pingReqs, int nacks, int delta)
    {
        var round = new ProbeRound(M(1), 7, 0, TimeSpan.Zero, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250));
        Assert.False(round.StartIndirect(TimeSpan.FromMilliseconds(99)));
        if (indirect)
        {
            Assert.True(round.StartIndirect(TimeSpan.FromMilliseconds(100)));
            Assert.False(round.StartIndirect(TimeSpan.FromMilliseconds(150)));
            for (var i = 0; i < pingReqs; i++)
            {
                round.PingReqSent();
            }

            for (var i = 0; i < nacks; i++)
            {
                round.Nacked();
            }
        }

        if (acked)
        {
            Assert.True(round.TryAck());
            Assert.False(round.TryAck());
            Assert.False(round.StartIndirect(TimeSpan.FromMilliseconds(200)));
        }

        Assert.Equal(delta, round.HealthDelta);
    }

    [Fact]
    public void A_suspicion_counts_fresh_independent_votes_and_its_deadline_shrinks_with_them()
    {
        // Five members: the minimum is 1 s, two confirmations expected, so it starts at 3 s.
        var suspicion = new Suspicion(TimeSpan.Zero, 3, M(1));
        Assert.Equal(1, suspicion.FreshVotes(5, TimeSpan.Zero, Local));
        Assert.Equal(TimeSpan.FromSeconds(3), suspicion.Deadline(5, TimeSpan.Zero, Local));

        Assert.True(suspicion.Confirm(M(2), TimeSpan.FromMilliseconds(500)));
        Assert.False(suspicion.Confirm(M(2), TimeSpan.FromMilliseconds(600))); // the same accuser again is no new vote
        Assert.True(suspicion.Confirm(M(3), TimeSpan.FromMilliseconds(700)));
        Assert.Equal(3, suspicion.FreshVotes(5, TimeSpan.FromMilliseconds(900), Local));
        Assert.Equal(TimeSpan.FromSeconds(1), suspicion.Deadline(5, TimeSpan.FromMilliseconds(900), Local));

        // A second later the first vote is stale (it may have been refuted unheard); the others still count.
        Assert.Equal(2, suspicion.FreshVotes(5, TimeSpan.FromMilliseconds(1000), Local));
        Assert.Equal(0, suspicion.FreshVotes(5, TimeSpan.FromSeconds(5), Local));
    }

    [Fact]
    public void Suspicion_without_an_accuser_has_no_vote()
    {
        var suspicion = new Suspicion(TimeSpan.Zero, 0, null);
        Assert.Equal(0, suspicion.FreshVotes(5, TimeSpan.Zero, Local));
        Assert.True(suspicion.Confirm(M(1), TimeSpan.Zero));
    }

    [Fact]
    public void Gossip_goes_to_its_subject_first_and_only_a_bounded_number_of_times()
    {
        // Group of 9: each update is carried by 4 × ⌈log10(10)⌉ = 4 messages.
        var queue = new GossipQueue(Local, () => 9);
        Assert.Empty(queue.Take(M(0)));
        queue.Enqueue(new GossipUpdate(M(1), MemberState.Joined, null));
        queue.Enqueue(new GossipUpdate(M(2), new MemberState(MemberStatus.Suspect, 0, 0), M(3)));

        Assert.Equal([M(2), M(1)], queue.Take(M(2)).Select(g => g.Member));
        Assert.Equal([M(1), M(2)], queue.Take(M(5)).Select(g => g.Member));
        Assert.Equal(2, queue.Take(M(5)).Length);
        Assert.Equal(2, queue.Take(M(5)).Length);
        Assert.Empty(queue.Take(M(5)));

        // A newer update about a member replaces the old one, with a fresh count.
        queue.Enqueue(new GossipUpdate(M(1), new MemberState(MemberStatus.Alive, 1, 0), null));
        Assert.Equal(1, Assert.Single(queue.Take(M(5))).State.Incarnation);
    }

    [Fact]
    public void Gossip_per_message_is_capped_least_sent_first()
    {
        var queue = new GossipQueue(Local, () => 9);
        for (var i = 0; i < Local.MaxPiggyback + 2; i++)
        {
            queue.Enqueue(new GossipUpdate(M(i), MemberState.Joined, null));
        }

        Assert.Equal(Local.MaxPiggyback, queue.Take(M(99)).Length);
        Assert.Equal([M(8), M(9)], queue.Take(M(99)).Take(2).Select(g => g.Member));
    }

    [Fact]
    public void The_probe_order_visits_every_live_member_once_per_round()
    {
        var order = new ProbeOrder(new Random(1));
        var live = new HashSet<MemberId>();
        for (var i = 0; i < 6; i++)
        {
            order.Insert(M(i));
            live.Add(M(i));
        }

        for (var round = 0; round < 3; round++)
        {
            var seen = Enumerable.Range(0, 6).Select(_ => order.Next(live.Contains)!.Value).ToHashSet();
            Assert.Equal(live, seen);
        }

        live.Remove(M(2));
        var afterLoss = Enumerable.Range(0, 5).Select(_ => order.Next(live.Contains)!.Value).ToList();
        Assert.DoesNotContain(M(2), afterLoss);
        Assert.Equal(5, afterLoss.Distinct().Count());

        live.Clear();
        Assert.Null(order.Next(live.Contains));
    }

    [Fact]
    public void An_indirect_probe_relay_is_answered_once_by_ack_or_nack()
    {
        var relays = new PingRelays();
        relays.Add(1, new Relay(M(1), 10, M(2), TimeSpan.FromMilliseconds(80)));
        relays.Add(2, new Relay(M(3), 20, M(2), TimeSpan.FromMilliseconds(90)));

        Assert.True(relays.TryComplete(1, out var acked));
        Assert.Equal(10, acked.RequesterSeq);
        Assert.False(relays.TryComplete(1, out _));
        Assert.Empty(relays.Expire(TimeSpan.FromMilliseconds(89)));
        Assert.Equal(20, Assert.Single(relays.Expire(TimeSpan.FromMilliseconds(90))).RequesterSeq);
        Assert.Empty(relays.Expire(TimeSpan.FromSeconds(1)));
    }

    [Theory]
    [InlineData(5, 2, true)] // itself and two others of five
    [InlineData(5, 1, false)]
    [InlineData(4, 1, false)] // two of four is no majority
    [InlineData(4, 2, true)]
    public void Only_a_member_in_touch_with_a_majority_may_declare(int groupSize, int heard, bool inTouch)
    {
        var contact = new RecentContact();
        var view = MembershipView.Empty;
        for (var i = 0; i < groupSize; i++)
        {
            view = view.With(M(i), MemberState.Joined);
        }

        for (var i = 1; i <= heard; i++)
        {
            contact.Heard(M(i), TimeSpan.FromSeconds(1));
        }

        // The suspect's own messages never count, and neither does stale contact.
        contact.Heard(M(groupSize - 1), TimeSpan.FromSeconds(1));
        Assert.Equal(inTouch, contact.InTouchWithMajority(M(groupSize - 1), TimeSpan.FromSeconds(1.5), view, groupSize, Local));
        Assert.False(contact.InTouchWithMajority(M(groupSize - 1), TimeSpan.FromSeconds(60), view, groupSize, Local));
    }

    [Fact]
    public void Broken_variants_break_only_their_own_decision()
    {
        var suspect = new MemberState(MemberStatus.Suspect, 1, 0);
        var refuted = new MemberState(MemberStatus.Alive, 2, 0);
        Assert.False(SwimFaults.None.BreaksRefutation || SwimFaults.None.BreaksDeathRule || SwimFaults.None.BreaksPrecedence(suspect, refuted));

        Assert.True(new SwimFaults(SwimFaults.Breakage.NoRefutation).BreaksRefutation);
        Assert.True(new SwimFaults(SwimFaults.Breakage.LoneAccuser).BreaksDeathRule);
        var precedence = new SwimFaults(SwimFaults.Breakage.AliveNeverOverridesSuspect);
        Assert.True(precedence.BreaksPrecedence(suspect, refuted));
        Assert.False(precedence.BreaksPrecedence(refuted, suspect));
        Assert.False(precedence.BreaksRefutation || precedence.BreaksDeathRule);
    }
}
