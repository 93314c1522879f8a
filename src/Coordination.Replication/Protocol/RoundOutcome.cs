using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// The replies of one round: only the first reply of each distinct configured member counts. The tally that
/// decides the round stops at <see cref="Seal"/>; replies that come later still count towards
/// <see cref="Cleared"/>, which tells whether every member took an accept or holds nothing it could bring back (what
/// dropping a tombstone needs).
/// </summary>
internal sealed class RoundOutcome(PartitionConfiguration config, int needed)
{
    // Completed inline by the reply that makes the majority; only this proposer's own await observes it.
    private readonly TaskCompletionSource _done = new();

    // Made when first asked for (only a deletion's round is): most rounds never need it.
    private TaskCompletionSource? _all;

    // The members that answered, and those that answered as active members, by their index in the configuration
    // (a partition has far fewer than 64 replicas: the configuration planner places at most a handful).
    private ulong _answered;
    private ulong _active;
    private int _answeredCount;
    private bool _sealed;
    private bool _mixedAccepted;
    private Ballot _bestAccepted = Ballot.Zero;

    public Task Done => _done.Task;

    /// <summary>Completes when every configured member has answered (or failed to), sealed or not.</summary>
    public Task AllAnswered
    {
        get
        {
            _all ??= new TaskCompletionSource();
            if (_answeredCount == config.Members.Length)
            {
                _all.TrySetResult();
            }

            return _all.Task;
        }
    }

    /// <summary>
    /// Members that answered Ok, or turned the round away at its epoch holding nothing accepted for the key (their
    /// promise, a key's or its bucket's floor, is above the round's ballot), counting replies after the seal too. Such
    /// a member has no older value a later quorum could revive, and accepts no older ballot: for a tombstone it is as
    /// good as one that took it. A member a thrifty round left out often holds no slot for the key, and its bucket's
    /// floor, raised by a neighbour's deletion, is above the key's ballot.
    /// </summary>
    public int Cleared { get; private set; }

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
    public bool AnsweredActive(ReplicaId member) => IndexOf(member) is var i and >= 0 && (_active & (1UL << i)) != 0;

    /// <summary>True when <paramref name="member"/> has answered this round, anything (or failed to be reached).</summary>
    public bool HasAnswered(ReplicaId member) => IndexOf(member) is var i and >= 0 && (_answered & (1UL << i)) != 0;

    public void Record(ReplicaId member, ReplicaReply? reply)
    {
        var index = IndexOf(member);
        if (index < 0 || (_answered & (1UL << index)) != 0)
        {
            return;
        }

        _answered |= 1UL << index;
        _answeredCount++;

        if (reply?.Status == ReplicaStatus.Ok)
        {
            Cleared++;
        }
        else if (reply is { Status: ReplicaStatus.Rejected, Accepted.IsZero: true, Value: null } && reply.Epoch == config.Epoch)
        {
            // Safe only because the member has accepted nothing for the key and turned the round away for a promise
            // above its ballot: keep the Accepted check (and the value's, though a rejection carries none today).
            Cleared++;
        }

        if (reply?.Status is ReplicaStatus.Ok or ReplicaStatus.Rejected && reply.Epoch == config.Epoch)
        {
            _active |= 1UL << index;
        }

        if (_answeredCount == config.Members.Length)
        {
            _all?.TrySetResult();
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

    /// <summary>The member's index in the configuration; -1 for one not in it (its reply does not count).</summary>
    private int IndexOf(ReplicaId member)
    {
        var members = config.Members;
        for (var i = 0; i < members.Length && i < 64; i++)
        {
            if (members[i].Id == member)
            {
                return i;
            }
        }

        return -1;
    }

    public RoundOutcome Seal()
    {
        _sealed = true;
        return this;
    }

    public string Describe() =>
        $"{Ok} ok, {Rejected} rejected by a higher ballot, {Failed} failed ({Recovering} recovering{(NewerEpoch > 0 ? $", epoch {NewerEpoch} seen" : string.Empty)}), {config.Members.Length - _answeredCount} silent or not asked{(TimedOut ? " (timed out)" : string.Empty)}";
}
