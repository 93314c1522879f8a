using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;

namespace Coordination.Tests;

/// <summary>The fault seam of the replication layer: its default makes every decision of the correct protocol, and each switch breaks only its own.</summary>
public sealed class ReplicationFaultsTests
{
    private static readonly PartitionConfiguration Three = new(0, 1, [.. new[] { "a", "b", "c" }.Select(id => new ReplicaMember(new ReplicaId(id), 1))], 1, 1, []);
    private static readonly Ballot Spent = new(4, 7), Highest = new(9, 3);

    public static TheoryData<string> Switches => ["None", "ReuseBallotAfterFailedAccept", "RetryWithoutReread", "AckAfterOneAccept", "VoteWithoutRecovery"];

    [Theory]
    [MemberData(nameof(Switches))]
    public void Each_switch_breaks_only_its_own_decision(string broken)
    {
        var faults = broken switch
        {
            "None" => ReplicationFaults.None,
            "ReuseBallotAfterFailedAccept" => new ReplicationFaults { ReuseBallotAfterFailedAccept = true },
            "RetryWithoutReread" => new ReplicationFaults { RetryWithoutReread = true },
            "AckAfterOneAccept" => new ReplicationFaults { AckAfterOneAccept = true },
            _ => new ReplicationFaults { VoteWithoutRecovery = true },
        };

        Assert.Equal(broken == "ReuseBallotAfterFailedAccept" ? Spent : null, faults.BallotKeptAfterFailure(Spent));
        Assert.Equal(broken == "RetryWithoutReread" ? new Ballot(10, 7) : null, faults.BallotForRetryWithoutReread(Rejected(), Spent, Highest, proposerId: 7));
        Assert.Equal(broken == "AckAfterOneAccept" ? 1 : 2, faults.AcceptsNeeded(Three));
        Assert.Equal(broken == "VoteWithoutRecovery", faults.VoteWithoutRecovery);
    }

    [Fact]
    public void A_retry_without_a_reread_happens_only_after_a_rejection()
    {
        var faults = new ReplicationFaults { RetryWithoutReread = true };
        var silent = new RoundOutcome(Three, 2);
        silent.Record(new ReplicaId("a"), null);
        Assert.Null(faults.BallotForRetryWithoutReread(silent, Spent, Highest, proposerId: 7));
    }

    private static RoundOutcome Rejected()
    {
        var round = new RoundOutcome(Three, 2);
        round.Record(new ReplicaId("a"), new ReplicaReply(ReplicaStatus.Rejected, 1, Highest, Ballot.Zero, null));
        return round;
    }
}
