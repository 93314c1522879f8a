using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;

namespace Coordination.Replication.Protocol;

/// <summary>
/// A CASPaxos proposer for one register key (Rystsov 2018). Changes are queued and folded into one
/// accept at a time (group commit), so at most one accept per key is in flight from this proposer. Each
/// accept uses a fresh ballot and promises the next one, so the steady state is one round trip; a
/// proposer that meets a higher ballot forgets what it knew and re-reads from a majority before it
/// answers anyone. Correctness does not depend on there being only one proposer per key.
/// Not thread-safe: call it from one logical thread (a grain's scheduler, or the simulation's).
/// </summary>
/// <remarks>
/// This class holds the protocol's state and decisions: the ballots, the value, phase 1 and phase 2. The
/// mechanisms around them live beside it: <see cref="GroupCommitQueue{TValue}"/> (batching),
/// <see cref="RoundBroadcaster"/> and <see cref="RoundOutcome"/> (one round to a majority, or every member, and its tally),
/// <see cref="FailedRoundPolicy"/> (retry, fail or back off after a round missed its majority) and
/// <see cref="ProposerConfiguration"/> (the configuration it works under). The decisions the simulations
/// break on purpose are asked of <see cref="ReplicationFaults"/>, which makes the correct ones in a silo.
/// </remarks>
internal sealed class RegisterProposer<TValue> : IRegister<TValue> where TValue : class
{
    private static readonly RegisterChange<TValue, bool> Peek = (value, _) => (value, true);
    private readonly GroupCommitQueue<TValue> _queue;
    private readonly ProposerConfiguration _configuration;
    private readonly RoundBroadcaster _rounds;
    private readonly FailedRoundPolicy _failedRounds;
    private readonly ReplicationFaults _faults;
    private readonly long _operationTimeout;
    private readonly TombstoneForgetter _forgetter;
    private readonly BallotHints _hints;
    private Ballot? _prepared;
    private TValue? _value;
    private Ballot _highest;
    private long _tokenFloor;
    private bool _readIsChosen;

    /// <summary>
    /// <see cref="_value"/> is chosen: this proposer's last accept wrote it, or the prepare that read it found it on a
    /// whole majority. False from a prepare that found it on a minority until it is written back.
    /// </summary>
    private bool _valueChosen;

    public RegisterProposer(string key, IPartitionDirectory directory, IReplicaTransport transport, TimeProvider time, ProposerOptions options, long proposerId, Random? random = null)
        : this(key, directory, transport, time, options, ReplicationFaults.None, proposerId, random)
    {
    }

    /// <param name="faults">Decisions broken on purpose, for the simulations' controls only.</param>
    /// <param name="hints">The highest ballots this silo has seen per partition, so a new proposer starts above the floors of absent keys.</param>
    /// <param name="targets">The order this silo's rounds ask members in (shared by its proposers); a proposer of its own when null.</param>
    /// <param name="hedges">The timer of this silo's rounds' hedge delays (shared by its proposers); a proposer of its own when null.</param>
    internal RegisterProposer(string key, IPartitionDirectory directory, IReplicaTransport transport, TimeProvider time, ProposerOptions options, ReplicationFaults faults, long proposerId, Random? random = null, BallotHints? hints = null, RoundTargets? targets = null, HedgeTimer? hedges = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(proposerId);
        Key = key;
        Partition = Partitioner.PartitionOf(key, directory.PartitionCount);
        ProposerId = proposerId;
        _faults = faults;
        _operationTimeout = (long)(options.OperationTimeout.TotalSeconds * time.TimestampFrequency);
        _configuration = new ProposerConfiguration(directory, Partition);
        _rounds = new RoundBroadcaster(transport, time, options.RoundTimeout, options.HedgeDelay, targets ?? new RoundTargets(time, transport.Self), _configuration, hedges);
        _failedRounds = new FailedRoundPolicy(key, Partition, directory, _configuration, time, options.MaxConflictBackoff, random ?? Random.Shared);
        _queue = new GroupCommitQueue<TValue>(time, options.MaxBatch, options.Linger, CommitAsync, SpendBallot);
        _forgetter = new TombstoneForgetter(transport, time, options.RoundTimeout, faults);
        _hints = hints ?? new BallotHints();
        _highest = _hints.Get(Partition);
    }

    public string Key { get; }

    public int Partition { get; }

    public long ProposerId { get; }

    /// <summary>The value of the last accept this proposer got a majority for, while it still holds the next promise.</summary>
    public TValue? CachedValue => _prepared is null || !_valueChosen ? null : _value;

    /// <summary>Counts completed rounds, for tests and metrics.</summary>
    public long Rounds { get; private set; }

    /// <summary>
    /// Called after every accept a majority took, with the committed value, before any caller of that
    /// batch is answered. Runs on the proposer's logical thread.
    /// </summary>
    public Action<TValue?>? Committed { get; set; }

    /// <summary>
    /// Applies <paramref name="change"/> to the register's current value and completes after a majority of
    /// the configured replicas accepted the result, in an accept that began after this call. Throws
    /// <see cref="QuorumUnavailableException"/> (outcome unknown) or <see cref="ReplicasLostException"/>;
    /// an exception thrown by <paramref name="change"/> is rethrown to this caller only, after the state it
    /// was computed from has been confirmed by a majority.
    /// </summary>
    public Task<TResult> ExecuteAsync<TResult>(RegisterChange<TValue, TResult> change) => _queue.Enqueue(change);

    public Task<TResult> ExecuteLaterAsync<TResult>(RegisterChange<TValue, TResult> change, Func<bool> lingerWhile) => _queue.Enqueue(change, lingerWhile: lingerWhile);

    /// <summary>Forgets the cached promise and value, so the next change starts with a prepare (a fresh read).</summary>
    public void Invalidate() => _prepared = null;

    /// <summary>Counts the prepares this proposer completed: each one is a new promise (see <see cref="RegisterContext.Generation"/>).</summary>
    public long Generation { get; private set; }

    public ValueTask<RegisterView<TValue>> PeekAsync() =>
        _prepared is not null && _valueChosen
            ? new(new RegisterView<TValue>(_value, Generation))
            : new(PeekRoundAsync());

    private async Task<RegisterView<TValue>> PeekRoundAsync()
    {
        // Queued behind a batch in flight (a new activation's first read), a peek takes the promise that batch
        // leaves instead of a round of its own; it goes round only when no promise on a chosen value is left (while a
        // value a prepare found on a minority is being written back, a peek waits for the write).
        while (_prepared is null || !_valueChosen)
        {
            await _queue.Enqueue(Peek, peek: true);
        }

        return new RegisterView<TValue>(_value, Generation);
    }

    private async Task CommitAsync(ChangeBatch<TValue> batch)
    {
        // Each change has until OperationTimeout after it arrived, however long it queued behind others.
        var deadline = batch.FirstArrived + _operationTimeout;
        var attempt = 0;
        var rereadForAbsent = false;
        while (true)
        {
            if (_prepared is null)
            {
                await PrepareAsync(deadline);
            }

            if (batch.OnlyPeeks && _valueChosen)
            {
                // Peeks want a promise on a chosen value: the one this proposer's last accept wrote, or one a prepare
                // found unanimous. Nothing to read or write (and a later read cannot answer from this prepare). A value
                // the prepare found on a minority only goes the read's way below: written back before anyone acts on it.
                _readIsChosen = false;
                batch.Complete();
                return;
            }

            // Phase 2: accept the batch's value under the prepared ballot and, in the same step, promise the next one (CASPaxos §2.2.1).
            var config = _configuration.Current!;
            var ballot = _prepared!.Value;
            var applied = batch.Apply(_value, new RegisterContext(config.TokenEpoch, config.Epoch, _tokenFloor, Generation));
            var next = applied.Next;
            if (applied.Unchanged && _readIsChosen)
            {
                // A read straight after a prepare whose majority all held the same accepted ballot: that value is
                // chosen, so it is the answer, and nothing needs writing (for an absent key, nothing is created).
                _readIsChosen = false;
                Publish(next);
                batch.Complete();
                return;
            }

            if (applied.Unchanged && next is null && !rereadForAbsent)
            {
                // A read that finds nothing, on a promise taken earlier: a prepare answers it as well as an
                // accept would, and writes nothing where the key is absent (an accept of nothing would).
                rereadForAbsent = true;
                _prepared = null;
                continue;
            }

            _readIsChosen = false;
            var nextBallot = new Ballot(ballot.Counter + 1, ProposerId);

            // A deletion keeps the register's last token in the partition's token floor (see KeyFloors). It
            // carries every floor this proposer knows, not only its own value's: the null it writes may be a
            // deletion it read from a minority and now completes, whose floor only that minority had seen.
            var tokenFloor = next is null ? _faults.TokenFloorOfDeletion(Math.Max(applied.Floor, _tokenFloor)) : 0;

            // Every ballot this proposer sends, the piggybacked promise included, counts as used: a later
            // prepare must start above all of them, or one ballot could end up carrying two values.
            _highest = Ballot.Max(_highest, nextBallot);
            var needed = _faults.AcceptsNeeded(config);
            // A deletion asks every member at once: its tombstone may be dropped only once each took it or holds nothing.
            var round = await _rounds.RunAsync(config, new ReplicaRequest(Partition, config.Epoch, Key, ReplicaOperation.Accept, ballot, next, nextBallot, tokenFloor), deadline, needed, everyMember: next is null);
            if (round.Ok >= needed)
            {
                Rounds++;
                _value = next;
                _valueChosen = true;
                _prepared = nextBallot;
                _tokenFloor = Math.Max(_tokenFloor, tokenFloor);
                _hints.Raise(Partition, nextBallot);
                if (next is null)
                {
                    // Every member must hold this tombstone, or nothing at all, before any may drop it; the rest happens in the background.
                    _forgetter.ForgetWhenAllCleared(config, Key, ballot, round);
                }

                Publish(next);
                batch.Complete();
                return;
            }

            _highest = Ballot.Max(_highest, round.Highest);
            _hints.Raise(Partition, round.Highest);
            if (_faults.BallotForRetryWithoutReread(round, ballot, _highest, ProposerId) is { } blind)
            {
                _prepared = blind;
                _highest = blind;
                continue;
            }

            // An accept that missed its majority may still be chosen later, so this ballot is spent: the
            // next attempt must start from a fresh prepare.
            _prepared = _faults.BallotKeptAfterFailure(ballot);
            _valueChosen = false;
            await _failedRounds.HandleAsync(config, round, deadline, ++attempt);
        }
    }

    /// <summary>Phase 1: promise a fresh ballot at a majority and take the value of the highest accepted ballot among them.</summary>
    private async Task PrepareAsync(long deadline)
    {
        var attempt = 0;
        while (true)
        {
            var config = _configuration.Reload();
            if (!config.IsAssigned)
            {
                throw new QuorumUnavailableException(Key, 0, 0, $"partition {Partition} has no replicas yet: the cluster is waiting for enough silos to join");
            }

            var ballot = _highest.NextAbove(_prepared ?? Ballot.Zero, ProposerId);
            _highest = ballot;
            var round = await _rounds.RunAsync(config, new ReplicaRequest(Partition, config.Epoch, Key, ReplicaOperation.Prepare, ballot, null, Ballot.Zero), deadline, config.QuorumSize);
            if (round.Ok >= config.QuorumSize)
            {
                _prepared = ballot;
                _value = (TValue?)round.Value;
                _valueChosen = round.Unanimous;
                _tokenFloor = Math.Max(_tokenFloor, round.TokenFloor);
                _readIsChosen = round.Unanimous;
                Generation++;
                _hints.Raise(Partition, ballot);
                return;
            }

            _highest = Ballot.Max(_highest, round.Highest);
            _hints.Raise(Partition, round.Highest);
            await _failedRounds.HandleAsync(config, round, deadline, ++attempt);
        }
    }

    /// <summary>A batch that failed, in either phase, leaves no ballot to go on with: the next batch starts from a prepare.</summary>
    private void SpendBallot()
    {
        _prepared = _faults.BallotKeptAfterFailure(_prepared);
        _readIsChosen = false;
        _valueChosen = false;
    }

    /// <summary>Tells the owner what is now current, before any caller of the batch is answered.</summary>
    private void Publish(TValue? value)
    {
        try
        {
            Committed?.Invoke(value);
        }
        catch (Exception)
        {
            // The value is committed whatever an observer does with it; observers log their own failures.
        }
    }
}
