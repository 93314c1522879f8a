using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Tests;

/// <summary>A round's tally (<see cref="RoundOutcome"/>): one vote per configured member, whoever asks and whenever.</summary>
public sealed class RoundOutcomeTests
{
    private static readonly ReplicaId A = new("a"), B = new("b"), C = new("c"), Stranger = new("z");
    private static readonly PartitionConfiguration Three = new(0, 4, [.. new[] { A, B, C }.Select(id => new ReplicaMember(id, 4))], 1, 1, []);

    [Fact]
    public void Only_the_first_reply_of_each_configured_member_counts()
    {
        var round = new RoundOutcome(Three, needed: 2);
        round.Record(A, Ok());
        round.Record(A, Ok());
        round.Record(Stranger, Ok());
        Assert.Equal(1, round.Ok);
        Assert.False(round.Done.IsCompleted, "one member answering twice, and a stranger, are not a majority");
        Assert.True(round.HasAnswered(A));
        Assert.False(round.HasAnswered(B));
        Assert.False(round.HasAnswered(Stranger));

        round.Record(B, Ok());
        Assert.Equal(2, round.Ok);
        Assert.True(round.Done.IsCompleted);
    }

    [Fact]
    public void A_member_answered_active_when_it_voted_at_the_rounds_epoch()
    {
        var round = new RoundOutcome(Three, needed: 2);
        round.Record(A, new ReplicaReply(ReplicaStatus.Rejected, 4, new Ballot(9, 9), Ballot.Zero, null));
        round.Record(B, ReplicaReply.Refuse(ReplicaStatus.EpochMismatch, 3));
        round.Record(C, null);
        Assert.True(round.AnsweredActive(A), "a rejection is a vote of an active member");
        Assert.False(round.AnsweredActive(B), "a member at another epoch did not vote");
        Assert.False(round.AnsweredActive(C), "a member not reached did not vote");
        Assert.True(round.HasAnswered(B) && round.HasAnswered(C));
        Assert.False(round.AnsweredActive(Stranger));
        Assert.Equal((0, 1, 2), (round.Ok, round.Rejected, round.Failed));
    }

    [Fact]
    public async Task Every_member_answered_counts_replies_after_the_seal_whenever_it_is_asked()
    {
        var before = new RoundOutcome(Three, needed: 2);
        var all = before.AllAnswered;
        before.Record(A, Ok());
        before.Record(B, Ok());
        before.Seal();
        Assert.False(all.IsCompleted, "two of three members answered");
        before.Record(C, Ok());
        await all.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((2, 3), (before.Ok, before.Cleared));

        var after = new RoundOutcome(Three, needed: 2);
        after.Record(A, Ok());
        after.Record(B, null);
        after.Record(C, Ok());
        Assert.True(after.AllAnswered.IsCompleted, "asked for after every member answered, it is complete at once");
        Assert.Equal(2, after.Cleared);
    }

    [Fact]
    public void A_member_that_turns_a_round_away_holding_nothing_is_cleared_and_one_holding_a_value_is_not()
    {
        var nothing = new RoundOutcome(Three, needed: 2);
        nothing.Record(A, Ok());
        nothing.Seal();
        nothing.Record(B, Ok());
        nothing.Record(C, new ReplicaReply(ReplicaStatus.Rejected, 4, new Ballot(9, 9), Ballot.Zero, null));
        Assert.Equal((1, 3), (nothing.Ok, nothing.Cleared));

        var older = new RoundOutcome(Three, needed: 2);
        older.Record(A, Ok());
        older.Record(B, Ok());
        older.Record(C, new ReplicaReply(ReplicaStatus.Rejected, 4, new Ballot(9, 9), new Ballot(1, 1), null));
        Assert.Equal(2, older.Cleared);

        var elsewhere = new RoundOutcome(Three, needed: 2);
        elsewhere.Record(A, Ok());
        elsewhere.Record(B, new ReplicaReply(ReplicaStatus.Rejected, 3, new Ballot(9, 9), Ballot.Zero, null));
        elsewhere.Record(C, ReplicaReply.Refuse(ReplicaStatus.Recovering, 4));
        Assert.Equal(1, elsewhere.Cleared);
    }

    private static ReplicaReply Ok() => new(ReplicaStatus.Ok, 4, new Ballot(2, 1), new Ballot(1, 1), null);
}
