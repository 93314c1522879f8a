namespace Coordination.Replication.Protocol;

/// <summary>
/// The acceptor rules of CASPaxos (Rystsov 2018, §2.1 and §2.2.1) for one register, as pure functions.
/// A replica must be active in the message's configuration epoch before these apply.
/// </summary>
internal static class Acceptor
{
    /// <summary>
    /// Promise <paramref name="ballot"/> if it is not below the current promise (an equal ballot is a
    /// duplicate of the same proposer's prepare), and report the last accepted value.
    /// </summary>
    public static (RegisterSlot Slot, ReplicaReply Reply) Prepare(RegisterSlot slot, Ballot ballot, long epoch)
    {
        if (ballot < slot.Promise)
        {
            return (slot, new ReplicaReply(ReplicaStatus.Rejected, epoch, slot.Promise, slot.Accepted, null));
        }

        var next = slot with { Promise = ballot };
        return (next, new ReplicaReply(ReplicaStatus.Ok, epoch, ballot, slot.Accepted, slot.Value));
    }

    /// <summary>
    /// Accept (<paramref name="ballot"/>, <paramref name="value"/>) if the ballot is not below the promise,
    /// and promise <paramref name="next"/> (which must be above <paramref name="ballot"/>) so the proposer's
    /// following write can skip its prepare.
    /// </summary>
    public static (RegisterSlot Slot, ReplicaReply Reply) Accept(RegisterSlot slot, Ballot ballot, object? value, Ballot next, long epoch)
    {
        if (next <= ballot)
        {
            throw new ArgumentException($"The piggybacked promise {next} must be above the accepted ballot {ballot}.", nameof(next));
        }

        if (ballot < slot.Promise)
        {
            return (slot, new ReplicaReply(ReplicaStatus.Rejected, epoch, slot.Promise, slot.Accepted, null));
        }

        var accepted = new RegisterSlot(Ballot.Max(slot.Promise, next), ballot, value);
        return (accepted, new ReplicaReply(ReplicaStatus.Ok, epoch, accepted.Promise, ballot, null));
    }
}
