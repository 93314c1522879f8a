using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Faults;

/// <summary>
/// The one seam through which this assembly runs broken on purpose, so the simulations can prove their
/// checkers catch each breakage. Each switch breaks one decision of the protocol, and the protocol's code
/// asks this object for that decision by name; <see cref="None"/>, the only instance a silo ever uses, makes
/// the correct one. No configuration reaches it: the type is internal and enters only through the internal
/// constructors of <see cref="RegisterProposer{TValue}"/> and <see cref="Replicas.ReplicaNode"/>. The
/// lease-only control the fault suite runs against real silos is a register of its own,
/// <see cref="LeaseOnlyRegister{TValue}"/>.
/// </summary>
internal sealed record ReplicationFaults
{
    /// <summary>The real protocol.</summary>
    public static readonly ReplicationFaults None = new();

    /// <summary>BROKEN ON PURPOSE when true: after an accept misses its majority, the next accept reuses its ballot for a different value.</summary>
    public bool ReuseBallotAfterFailedAccept { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: after a rejected accept, retry with a higher ballot on the cached value without re-reading.</summary>
    public bool RetryWithoutReread { get; init; }

    /// <summary>
    /// BROKEN ON PURPOSE when true: an accept counts as committed once one replica took it, so a change (a
    /// session's keepalive, in the control that uses it) is acknowledged without a majority accept.
    /// </summary>
    public bool AckAfterOneAccept { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: a joining replica votes with empty state instead of recovering.</summary>
    public bool VoteWithoutRecovery { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: a replica that drops a tombstone does not raise its bucket's floor, so it forgets what it promised.</summary>
    public bool ForgetWithoutFloor { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: a tombstone is dropped once a majority took it, while another member may still hold an older value.</summary>
    public bool ForgetAfterMajority { get; init; }

    /// <summary>BROKEN ON PURPOSE when true: a deletion does not raise the partition's token floor, so a name used again can issue lower tokens.</summary>
    public bool DeleteWithoutTokenFloor { get; init; }

    /// <summary>The token floor a deletion carries: the register's last token.</summary>
    public long TokenFloorOfDeletion(long floor) => DeleteWithoutTokenFloor ? 0 : floor;

    /// <summary>The floor a replica keeps for a dropped slot: its promise (the broken variant keeps none).</summary>
    public Ballot FloorOfForgotten(RegisterSlot slot) => ForgetWithoutFloor ? Ballot.Zero : Ballot.Max(slot.Promise, slot.Accepted);

    /// <summary>
    /// The ballot a proposer may go on using after a round or batch failed: none, since an accept that missed
    /// its majority may still be chosen later (the broken variant keeps using it).
    /// </summary>
    public Ballot? BallotKeptAfterFailure(Ballot? ballot) => ReuseBallotAfterFailedAccept ? ballot : null;

    /// <summary>How many replicas must accept before a batch counts as committed: a majority of the configuration.</summary>
    public int AcceptsNeeded(PartitionConfiguration config) => AckAfterOneAccept ? 1 : config.QuorumSize;

    /// <summary>
    /// The ballot to retry a rejected accept with at once, on the cached value: none, since a proposer that met
    /// a higher ballot must re-read from a majority first.
    /// </summary>
    public Ballot? BallotForRetryWithoutReread(RoundOutcome round, Ballot rejected, Ballot highest, long proposerId) =>
        RetryWithoutReread && round.Rejected > 0 ? highest.NextAbove(rejected, proposerId) : null;
}
