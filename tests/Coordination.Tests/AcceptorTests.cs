using Coordination.Replication.Protocol;

namespace Coordination.Tests;

public sealed class AcceptorTests
{
    private static readonly Ballot B1 = new(1, 7);
    private static readonly Ballot B2 = new(2, 7);
    private static readonly Ballot B3 = new(3, 7);
    private static readonly Ballot B2Other = new(2, 9);

    [Fact]
    public void Ballots_order_by_counter_then_proposer()
    {
        Assert.True(B1 < B2);
        Assert.True(B2 < B2Other);
        Assert.True(B2Other < B3);
        Assert.True(Ballot.Zero < B1);
        Assert.Equal(new Ballot(4, 5), B3.NextAbove(B2Other, 5));
        Assert.Equal(new Ballot(4, 5), B2Other.NextAbove(B3, 5));
    }

    [Fact]
    public void Prepare_promises_and_returns_the_last_accepted_value()
    {
        var slot = new RegisterSlot(B1, B1, "v1");
        var (next, reply) = Acceptor.Prepare(slot, B2, epoch: 4);
        Assert.Equal(ReplicaStatus.Ok, reply.Status);
        Assert.Equal(B1, reply.Accepted);
        Assert.Equal("v1", reply.Value);
        Assert.Equal(4, reply.Epoch);
        Assert.Equal(B2, next.Promise);
        Assert.Equal("v1", next.Value);
    }

    [Fact]
    public void Prepare_below_the_promise_is_rejected_and_changes_nothing()
    {
        var slot = new RegisterSlot(B3, B1, "v1");
        var (next, reply) = Acceptor.Prepare(slot, B2, 1);
        Assert.Equal(ReplicaStatus.Rejected, reply.Status);
        Assert.Equal(B3, reply.Promise);
        Assert.Same(slot, next);
    }

    [Fact]
    public void A_duplicate_prepare_of_the_same_ballot_is_answered_again()
    {
        var (once, _) = Acceptor.Prepare(RegisterSlot.Empty, B2, 1);
        var (twice, reply) = Acceptor.Prepare(once, B2, 1);
        Assert.Equal(ReplicaStatus.Ok, reply.Status);
        Assert.Equal(once, twice);
    }

    [Fact]
    public void Accept_stores_the_value_and_promises_the_piggybacked_next_ballot()
    {
        var (promised, _) = Acceptor.Prepare(RegisterSlot.Empty, B1, 1);
        var (next, reply) = Acceptor.Accept(promised, B1, "v", B2, 1);
        Assert.Equal(ReplicaStatus.Ok, reply.Status);
        Assert.Equal(new RegisterSlot(B2, B1, "v"), next);

        // The next write uses the promised ballot directly: one round trip in the steady state.
        var (after, second) = Acceptor.Accept(next, B2, "w", B3, 1);
        Assert.Equal(ReplicaStatus.Ok, second.Status);
        Assert.Equal(new RegisterSlot(B3, B2, "w"), after);
    }

    [Fact]
    public void Accept_below_the_promise_is_rejected_and_changes_nothing()
    {
        var slot = new RegisterSlot(B3, B1, "v1");
        var (next, reply) = Acceptor.Accept(slot, B2, "v2", B3, 1);
        Assert.Equal(ReplicaStatus.Rejected, reply.Status);
        Assert.Equal(B3, reply.Promise);
        Assert.Same(slot, next);
    }

    [Fact]
    public void A_replayed_accept_after_its_own_next_promise_is_rejected()
    {
        var (first, _) = Acceptor.Accept(RegisterSlot.Empty, B1, "v", B2, 1);
        var (_, replay) = Acceptor.Accept(first, B1, "v", B2, 1);
        Assert.Equal(ReplicaStatus.Rejected, replay.Status);
    }

    [Fact]
    public void Accept_requires_the_next_ballot_to_be_above_the_accepted_one() =>
        Assert.Throws<ArgumentException>(() => Acceptor.Accept(RegisterSlot.Empty, B2, "v", B2, 1));

    [Fact]
    public void Merge_keeps_the_highest_promise_and_the_value_of_the_highest_accepted_ballot()
    {
        var a = new RegisterSlot(B3, B1, "old");
        var b = new RegisterSlot(B2, B2, "new");
        Assert.Equal(new RegisterSlot(B3, B2, "new"), RegisterSlot.Merge(a, b));
        Assert.Equal(new RegisterSlot(B3, B2, "new"), RegisterSlot.Merge(b, a));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(5, 3)]
    public void Majority_is_half_plus_one(int members, int majority) => Assert.Equal(majority, Quorum.Majority(members));

    [Theory]
    [InlineData(3, 0, 0, false)]
    [InlineData(3, 1, 1, false)]
    [InlineData(3, 0, 1, false)]
    [InlineData(3, 0, 2, true)]
    [InlineData(3, 1, 2, true)]
    [InlineData(5, 1, 2, false)]
    [InlineData(5, 0, 3, true)]
    [InlineData(5, 2, 3, true)]
    public void Out_of_reach_when_the_undecided_cannot_complete_a_majority(int members, int ok, int failed, bool outOfReach) =>
        Assert.Equal(outOfReach, Quorum.IsOutOfReach(members, ok, failed));

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, false)]
    [InlineData(5, true)]
    [InlineData(7, false)]
    public void Only_three_and_five_replicas_are_supported(int n, bool supported) => Assert.Equal(supported, Quorum.IsSupportedReplicationFactor(n));
}
