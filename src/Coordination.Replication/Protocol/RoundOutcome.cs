using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>The replies of one round: only the first reply of each distinct configured member counts.</summary>
internal sealed class RoundOutcome(PartitionConfiguration config, int needed)
{
    // Completed inline by the reply that makes the majority; only this proposer's own await observes it.
    private readonly TaskCompletionSource _done = new();
    private readonly HashSet<ReplicaId> _answered = [];
    private bool _sealed;
    private Ballot _bestAccepted = Ballot.Zero;

    public Task Done => _done.Task;

    public int Ok { get; private set; }

    public int Rejected { get; private set; }

    public int Failed { get; private set; }

    public int Recovering { get; private set; }

    public long NewerEpoch { get; private set; }

    /// <summary>Replicas still at an older configuration epoch (they will adopt it shortly).</summary>
    public int Behind { get; private set; }

    public Ballot Highest { get; private set; } = Ballot.Zero;

    public object? Value { get; private set; }

    public bool TimedOut { get; set; }

    public void Record(ReplicaId member, ReplicaReply? reply)
    {
        if (_sealed || !config.Contains(member) || !_answered.Add(member))
        {
            return;
        }

        switch (reply?.Status)
        {
            case ReplicaStatus.Ok:
                Ok++;
                if (Ok == 1 || reply.Accepted > _bestAccepted)
                {
                    _bestAccepted = reply.Accepted;
                    Value = reply.Value;
                }

                break;
            case ReplicaStatus.Rejected:
                Rejected++;
                Highest = Ballot.Max(Highest, reply.Promise);
                break;
            case ReplicaStatus.EpochMismatch:
                Failed++;
                if (reply.Epoch > config.Epoch)
                {
                    NewerEpoch = Math.Max(NewerEpoch, reply.Epoch);
                }
                else
                {
                    Behind++;
                }

                break;
            case ReplicaStatus.Recovering:
                Failed++;
                Recovering++;
                break;
            default:
                Failed++;
                break;
        }

        if (Ok >= needed || Quorum.IsOutOfReach(config.Members.Length, Ok, Rejected + Failed))
        {
            _done.TrySetResult();
        }
    }

    public RoundOutcome Seal()
    {
        _sealed = true;
        return this;
    }

    public string Describe() =>
        $"{Ok} ok, {Rejected} rejected by a higher ballot, {Failed} failed ({Recovering} recovering{(NewerEpoch > 0 ? $", epoch {NewerEpoch} seen" : string.Empty)}), {config.Members.Length - _answered.Count} silent{(TimedOut ? " (timed out)" : string.Empty)}";
}
