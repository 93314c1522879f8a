using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// The replies of one round: only the first reply of each distinct configured member counts. The tally that
/// decides the round stops at <see cref="Seal"/>; replies that come later still count towards
/// <see cref="AllOk"/>, which tells whether every member took an accept (what dropping a tombstone needs).
/// </summary>
internal sealed class RoundOutcome(PartitionConfiguration config, int needed)
{
    // Completed inline by the reply that makes the majority; only this proposer's own await observes it.
    private readonly TaskCompletionSource _done = new();
    private readonly TaskCompletionSource _all = new();
    private readonly HashSet<ReplicaId> _answered = [];
    private readonly HashSet<ReplicaId> _active = [];
    private bool _sealed;
    private bool _mixedAccepted;
    private Ballot _bestAccepted = Ballot.Zero;

    public Task Done => _done.Task;

    /// <summary>Completes when every configured member has answered (or failed to), sealed or not.</summary>
    public Task AllAnswered => _all.Task;

    /// <summary>Members that answered Ok, counting replies after the seal too.</summary>
    public int AllOk { get; private set; }

    /// <summary>The highest partition token floor any member reported in this round.</summary>
    public long TokenFloor { get; private set; }

    /// <summary>
    /// True when every Ok reply of the decided round reported the same accepted ballot: then the value read is
    /// the one accepted at that ballot by a majority, chosen, and a read may answer with it without an accept.
    /// </summary>
    public bool Unanimous => Ok > 0 && !_mixedAccepted;

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

    /// <summary>True when <paramref name="member"/> answered as an active member of this round's epoch (it voted, either way).</summary>
    public bool AnsweredActive(ReplicaId member) => _active.Contains(member);

    /// <summary>True when <paramref name="member"/> has answered this round, anything (or failed to be reached).</summary>
    public bool HasAnswered(ReplicaId member) => _answered.Contains(member);

    public void Record(ReplicaId member, ReplicaReply? reply)
    {
        if (!config.Contains(member) || !_answered.Add(member))
        {
            return;
        }

        if (reply?.Status == ReplicaStatus.Ok)
        {
            AllOk++;
        }

        if (reply?.Status is ReplicaStatus.Ok or ReplicaStatus.Rejected && reply.Epoch == config.Epoch)
        {
            _active.Add(member);
        }

        if (_answered.Count == config.Members.Length)
        {
            _all.TrySetResult();
        }

        if (_sealed)
        {
            return;
        }

        TokenFloor = Math.Max(TokenFloor, reply?.TokenFloor ?? 0);
        switch (reply?.Status)
        {
            case ReplicaStatus.Ok:
                Ok++;
                if (Ok > 1 && reply.Accepted != _bestAccepted)
                {
                    _mixedAccepted = true;
                }

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
        $"{Ok} ok, {Rejected} rejected by a higher ballot, {Failed} failed ({Recovering} recovering{(NewerEpoch > 0 ? $", epoch {NewerEpoch} seen" : string.Empty)}), {config.Members.Length - _answered.Count} silent or not asked{(TimedOut ? " (timed out)" : string.Empty)}";
}
