using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>What a change may know besides the value: the configuration the write will commit under.</summary>
/// <param name="TokenEpoch">The cluster epoch the partition's state began in (fencing tokens start above it).</param>
/// <param name="ConfigurationEpoch">The partition's configuration epoch.</param>
public readonly record struct RegisterContext(long TokenEpoch, long ConfigurationEpoch);

/// <summary>A change to a register value: the new value and what to tell the caller. Must be a pure function of its inputs.</summary>
public delegate (TValue? Next, TResult Result) RegisterChange<TValue, TResult>(TValue? current, RegisterContext context) where TValue : class;

/// <summary>
/// A CASPaxos proposer for one register key (Rystsov 2018). Changes are queued and folded into one
/// accept at a time (group commit), so at most one accept per key is in flight from this proposer. Each
/// accept uses a fresh ballot and promises the next one, so the steady state is one round trip; a
/// proposer that meets a higher ballot forgets what it knew and re-reads from a majority before it
/// answers anyone. Correctness does not depend on there being only one proposer per key.
/// Not thread-safe: call it from one logical thread (a grain's scheduler, or the simulation's).
/// </summary>
public sealed class RegisterProposer<TValue> where TValue : class
{
    private readonly Queue<IPending> _queue = new();
    private readonly IPartitionDirectory _directory;
    private readonly IReplicaTransport _transport;
    private readonly TimeProvider _time;
    private readonly ProposerOptions _options;
    private readonly Random _random;
    private PartitionConfiguration? _config;
    private Ballot? _prepared;
    private TValue? _value;
    private Ballot _highest = Ballot.Zero;
    private bool _running;

    public RegisterProposer(string key, IPartitionDirectory directory, IReplicaTransport transport, TimeProvider time, ProposerOptions options, long proposerId, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(proposerId);
        Key = key;
        Partition = Partitioner.PartitionOf(key, directory.PartitionCount);
        ProposerId = proposerId;
        _directory = directory;
        _transport = transport;
        _time = time;
        _options = options;
        _random = random ?? Random.Shared;
    }

    public string Key { get; }

    public int Partition { get; }

    public long ProposerId { get; }

    /// <summary>The value of the last accept this proposer got a majority for, while it still holds the next promise.</summary>
    public TValue? CachedValue => _prepared is null ? null : _value;

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
    public Task<TResult> ExecuteAsync<TResult>(RegisterChange<TValue, TResult> change)
    {
        var pending = new Pending<TResult>(change, _time.GetTimestamp());
        _queue.Enqueue(pending);
        if (!_running)
        {
            _running = true;
            _ = RunAsync();
        }

        return pending.Task;
    }

    /// <summary>Forgets the cached promise and value, so the next change starts with a prepare (a fresh read).</summary>
    public void Invalidate() => _prepared = null;

    private async Task RunAsync()
    {
        try
        {
            while (_queue.Count > 0)
            {
                var batch = new List<IPending>(Math.Min(_queue.Count, _options.MaxBatch));
                while (_queue.Count > 0 && batch.Count < _options.MaxBatch)
                {
                    batch.Add(_queue.Dequeue());
                }

                ReplicationMetrics.BatchSize.Record(batch.Count);
                try
                {
                    await CommitAsync(batch);
                }
                catch (Exception ex)
                {
                    if (!_options.UnsafeReuseBallot)
                    {
                        _prepared = null;
                    }

                    foreach (var p in batch)
                    {
                        p.Fail(ex);
                    }
                }
            }
        }
        finally
        {
            _running = false;
        }
    }

    private async Task CommitAsync(List<IPending> batch)
    {
        // Each change has until OperationTimeout after it arrived, however long it queued behind others.
        var deadline = batch.Min(p => p.Arrived) + ToTimestamp(_options.OperationTimeout);
        var attempt = 0;
        if (_options.UnsafeLeaseOnly)
        {
            CommitInMemory(batch);
            return;
        }

        while (true)
        {
            if (_prepared is null)
            {
                await PrepareAsync(deadline);
            }

            var config = _config!;
            var ballot = _prepared!.Value;
            var next = _value;
            var context = new RegisterContext(config.TokenEpoch, config.Epoch);
            foreach (var p in batch)
            {
                next = p.Apply(next, context);
            }

            var nextBallot = new Ballot(ballot.Counter + 1, ProposerId);

            // Every ballot this proposer sends, the piggybacked promise included, counts as used: a later
            // prepare must start above all of them, or one ballot could end up carrying two values.
            _highest = Ballot.Max(_highest, nextBallot);
            var needed = _options.UnsafeAckAfterOneAccept ? 1 : config.QuorumSize;
            var round = await RoundAsync(config, member => new ReplicaRequest(Partition, config.Epoch, Key, ReplicaOperation.Accept, ballot, next, nextBallot), deadline, needed);
            if (round.Ok >= needed)
            {
                Rounds++;
                _value = next;
                _prepared = nextBallot;
                try
                {
                    Committed?.Invoke(next);
                }
                catch (Exception)
                {
                    // The value is committed whatever an observer does with it; observers log their own failures.
                }

                foreach (var p in batch)
                {
                    p.Complete();
                }

                return;
            }

            _highest = Ballot.Max(_highest, round.Highest);
            if (_options.UnsafeSkipReread && round.Rejected > 0)
            {
                _prepared = _highest.NextAbove(ballot, ProposerId);
                _highest = _prepared.Value;
                continue;
            }

            // An accept that missed its majority may still be chosen later, so this ballot is spent: the
            // next attempt must start from a fresh prepare (the broken variant keeps using it).
            _prepared = _options.UnsafeReuseBallot ? ballot : null;
            await HandleFailedRoundAsync(config, round, deadline, ++attempt);
        }
    }

    /// <summary>The broken lease-only variant: the batch applies to this proposer's memory, and nothing else knows.</summary>
    private void CommitInMemory(List<IPending> batch)
    {
        var config = _directory.Get(Partition);
        var next = _value;
        foreach (var p in batch)
        {
            next = p.Apply(next, new RegisterContext(config.TokenEpoch, config.Epoch));
        }

        _value = next;
        Rounds++;
        Committed?.Invoke(next);
        foreach (var p in batch)
        {
            p.Complete();
        }
    }

    /// <summary>Phase 1: promise a fresh ballot at a majority and take the value of the highest accepted ballot among them.</summary>
    private async Task PrepareAsync(long deadline)
    {
        var attempt = 0;
        while (true)
        {
            var config = _directory.Get(Partition);
            if (_config is not null && _config.Epoch > config.Epoch)
            {
                config = _config;
            }

            _config = config;
            if (!config.IsAssigned)
            {
                throw new QuorumUnavailableException(Key, 0, 0, $"partition {Partition} has no replicas yet: the cluster is waiting for enough silos to join");
            }

            var ballot = _highest.NextAbove(_prepared ?? Ballot.Zero, ProposerId);
            _highest = ballot;
            var round = await RoundAsync(config, _ => new ReplicaRequest(Partition, config.Epoch, Key, ReplicaOperation.Prepare, ballot, null, Ballot.Zero), deadline, config.QuorumSize);
            if (round.Ok >= config.QuorumSize)
            {
                _prepared = ballot;
                _value = (TValue?)round.Value;
                return;
            }

            _highest = Ballot.Max(_highest, round.Highest);
            await HandleFailedRoundAsync(config, round, deadline, ++attempt);
        }
    }

    /// <summary>Decides whether a round that missed its majority may be retried (contention, a newer configuration) or must fail.</summary>
    private async Task HandleFailedRoundAsync(PartitionConfiguration config, RoundOutcome round, long deadline, int attempt)
    {
        var outOfTime = _time.GetTimestamp() >= deadline;

        // Judge only the newest configuration: a copy cached before a replacement can look lost (a member
        // it still lists as recovering, another just died) while the partition is healthy under a newer epoch.
        PartitionConfiguration fresh;
        try
        {
            fresh = await _directory.RefreshAsync(Partition, config.Epoch, CancellationToken.None);
        }
        catch (Exception ex) when (ex is not CoordinationException)
        {
            // The metadata store is out of reach too: nothing is known beyond "no majority", which is retryable.
            throw new QuorumUnavailableException(Key, round.Ok, config.QuorumSize, $"{round.Describe()}; the replica configuration could not be re-read: {ex.Message}");
        }

        if (fresh.Epoch > config.Epoch)
        {
            _config = fresh;
            if (!outOfTime)
            {
                return;
            }
        }

        if (ConfigurationPlanner.HasLostMajority(fresh, _directory.IsDead))
        {
            throw new ReplicasLostException(Key, Partition, $"{round.Describe()}; configuration {fresh}");
        }

        if (outOfTime || (round.Rejected == 0 && round.NewerEpoch <= config.Epoch && round.Recovering == 0 && round.Behind == 0))
        {
            throw new QuorumUnavailableException(Key, round.Ok, config.QuorumSize, round.Describe());
        }

        // Contention with another proposer (a duplicate activation, a retry elsewhere) or replicas catching
        // up: pause a random, growing moment so dueling proposers stop colliding.
        var maxMs = Math.Min(_options.MaxConflictBackoff.TotalMilliseconds, Math.Pow(2, attempt));
        await Task.Delay(TimeSpan.FromMilliseconds(_random.NextDouble() * maxMs), _time);
    }

    private async Task<RoundOutcome> RoundAsync(PartitionConfiguration config, Func<ReplicaId, ReplicaRequest> request, long deadline, int needed)
    {
        var started = _time.GetTimestamp();
        var round = new RoundOutcome(config, needed);
        foreach (var member in config.Members)
        {
            _ = SendAsync(round, member.Id, request(member.Id));
        }

        if (!round.Done.IsCompleted)
        {
            var remaining = Math.Min(ToTimestamp(_options.RoundTimeout), Math.Max(0, deadline - _time.GetTimestamp()));
            try
            {
                await round.Done.WaitAsync(_time.GetElapsedTime(0, remaining), _time);
            }
            catch (TimeoutException)
            {
                round.TimedOut = true;
            }
        }

        var sealedRound = round.Seal();
        var ok = sealedRound.Ok >= needed;
        ReplicationMetrics.RoundDuration.Record(_time.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("outcome", ok ? "majority" : "failed"));
        if (!ok)
        {
            ReplicationMetrics.FailedRounds.Add(1);
        }

        return sealedRound;
    }

    private async Task SendAsync(RoundOutcome round, ReplicaId member, ReplicaRequest request)
    {
        ReplicaReply? reply;
        try
        {
            reply = await _transport.SendAsync(member, request, CancellationToken.None);
        }
        catch (Exception)
        {
            reply = null;
        }

        round.Record(member, reply);
        if (reply is { Status: ReplicaStatus.EpochMismatch } && reply.Epoch < request.Epoch && _config is { } config && config.Epoch == request.Epoch)
        {
            try
            {
                await _transport.AdoptAsync(member, config, CancellationToken.None);
            }
            catch (Exception)
            {
                // A hint only: the replica also learns the configuration from the configuration master.
            }
        }
    }

    private long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>The replies of one round: only the first reply of each distinct configured member counts.</summary>
    private sealed class RoundOutcome(PartitionConfiguration config, int needed)
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

    private interface IPending
    {
        long Arrived { get; }

        TValue? Apply(TValue? current, RegisterContext context);

        void Complete();

        void Fail(Exception exception);
    }

    private sealed class Pending<TResult>(RegisterChange<TValue, TResult> change, long arrived) : IPending
    {
        public long Arrived => arrived;

        private readonly TaskCompletionSource<TResult> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TResult? _result;
        private Exception? _error;

        public Task<TResult> Task => _tcs.Task;

        public TValue? Apply(TValue? current, RegisterContext context)
        {
            try
            {
                var (next, result) = change(current, context);
                _result = result;
                _error = null;
                return next;
            }
            catch (Exception ex)
            {
                _error = ex;
                return current;
            }
        }

        public void Complete()
        {
            if (_error is not null)
            {
                _tcs.TrySetException(_error);
            }
            else
            {
                _tcs.TrySetResult(_result!);
            }
        }

        public void Fail(Exception exception) => _tcs.TrySetException(exception);
    }
}
