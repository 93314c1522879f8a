namespace Coordination.Replication.Protocol;

/// <summary>
/// Group commit for one register: changes that arrive while a batch is being committed wait here and are
/// folded into the next batch, at most <c>maxBatch</c> at a time, so at most one commit per key is in flight
/// from its owner. Each change is stamped with its arrival, which its deadline runs from. A lingering change
/// (one whose caller waits for something else anyway) starts no batch of its own for up to <c>linger</c>: it goes
/// with the next change that does. Not thread-safe, like the register that owns it.
/// </summary>
/// <param name="linger">How long a lingering change may wait for company; zero sends each at once.</param>
/// <param name="commit">Commits one batch; it completes or fails every change of the batch itself.</param>
/// <param name="batchFailed">Called when <paramref name="commit"/> threw, before the batch's callers get the exception.</param>
internal sealed class GroupCommitQueue<TValue>(TimeProvider time, int maxBatch, TimeSpan linger, Func<ChangeBatch<TValue>, Task> commit, Action? batchFailed = null)
    where TValue : class
{
    private readonly Queue<IPendingChange<TValue>> _queue = new();
    private bool _running;

    /// <summary>Set while the queue holds only lingering changes and waits for company: a change that does not linger ends the wait.</summary>
    private TaskCompletionSource? _company;

    /// <param name="peek">The change only wants the register to hold a promise (<see cref="ChangeBatch{TValue}.OnlyPeeks"/>).</param>
    /// <param name="lingerWhile">
    /// Null for a change its caller waits on. Otherwise the change lingers while this holds (asked again after every batch; one
    /// that throws does not hold), until <c>linger</c> after the oldest queued change arrived, rounded up to whole milliseconds:
    /// it starts no batch of its own and goes with the next change that does. A batch in flight when it came goes first.
    /// </param>
    public Task<TResult> Enqueue<TResult>(RegisterChange<TValue, TResult> change, bool peek = false, Func<bool>? lingerWhile = null)
    {
        var pending = new PendingChange<TValue, TResult>(change, time.GetTimestamp(), peek, lingerWhile);
        _queue.Enqueue(pending);
        if (!_running)
        {
            _running = true;
            _ = RunAsync();
        }
        else if (lingerWhile is null)
        {
            _company?.TrySetResult();
        }

        return pending.Task;
    }

    private async Task RunAsync()
    {
        try
        {
            while (_queue.Count > 0)
            {
                if (LingerLeft() is { } wait)
                {
                    // Completed from Enqueue, on this queue's own thread: the wait goes on there (in a grain, on its scheduler).
                    _company = new TaskCompletionSource();
                    using (var timer = new CancellationTokenSource())
                    {
                        await Task.WhenAny(_company.Task, Task.Delay(wait, time, timer.Token));
                        timer.Cancel();
                    }

                    _company = null;
                    continue;
                }

                var batch = new List<IPendingChange<TValue>>(Math.Min(_queue.Count, maxBatch));
                while (_queue.Count > 0 && batch.Count < maxBatch)
                {
                    batch.Add(_queue.Dequeue());
                }

                ReplicationMetrics.BatchSize.Record(batch.Count);
                try
                {
                    await commit(new ChangeBatch<TValue>(batch));
                }
                catch (Exception ex)
                {
                    batchFailed?.Invoke();
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

    /// <summary>How much longer every queued change may wait for company, or null when one of them wants a batch now.</summary>
    private TimeSpan? LingerLeft()
    {
        if (linger <= TimeSpan.Zero)
        {
            return null;
        }

        var oldest = long.MaxValue;
        foreach (var p in _queue)
        {
            if (!p.Lingers)
            {
                return null;
            }

            oldest = Math.Min(oldest, p.Arrived);
        }

        // Whole milliseconds, up: Task.Delay counts whole milliseconds, so a shorter wait would be none and the queue
        // would spin until the time is up.
        var left = linger - time.GetElapsedTime(oldest);
        return left > TimeSpan.Zero ? TimeSpan.FromMilliseconds(Math.Ceiling(left.TotalMilliseconds)) : null;
    }
}

/// <summary>The changes folded into one commit, in their order of arrival.</summary>
internal sealed class ChangeBatch<TValue>(List<IPendingChange<TValue>> changes) where TValue : class
{
    /// <summary>When the oldest change arrived: each change has its whole timeout from then, however long it queued.</summary>
    public long FirstArrived
    {
        get
        {
            var first = long.MaxValue;
            foreach (var p in changes)
            {
                first = Math.Min(first, p.Arrived);
            }

            return first;
        }
    }

    /// <summary>Every change of the batch is a peek: it needs a promise, not a read that began after it arrived (<see cref="IRegister{TValue}.PeekAsync"/>).</summary>
    public bool OnlyPeeks => changes.TrueForAll(p => p.IsPeek);

    /// <summary>
    /// Folds every change over <paramref name="current"/>, in order. A change that throws leaves the value as
    /// it found it; its caller alone gets the exception, once the batch is complete.
    /// </summary>
    public BatchResult<TValue> Apply(TValue? current, RegisterContext context)
    {
        var next = current;
        var floor = RegisterValues.FloorOf(current);
        foreach (var p in changes)
        {
            next = p.Apply(next, context);
            floor = Math.Max(floor, RegisterValues.FloorOf(next));

            // A change later in the batch that finds the value deleted by an earlier one creates it again above
            // every token issued along the way, not above the floor the batch began with.
            context = context with { TokenFloor = Math.Max(context.TokenFloor, floor) };
        }

        return new BatchResult<TValue>(next, ReferenceEquals(next, current), floor);
    }

    /// <summary>Answers every caller with what its change last computed: the batch is committed.</summary>
    public void Complete()
    {
        foreach (var p in changes)
        {
            p.Complete();
        }
    }
}

/// <summary>What a batch made of the value.</summary>
/// <param name="Unchanged">Every change left the value as it found it (the very same object): a read.</param>
/// <param name="Floor">The highest token any value along the way had issued: what a deletion must keep.</param>
internal readonly record struct BatchResult<TValue>(TValue? Next, bool Unchanged, long Floor) where TValue : class;

/// <summary>One queued change, of whatever result type its caller waits for.</summary>
internal interface IPendingChange<TValue> where TValue : class
{
    long Arrived { get; }

    bool IsPeek { get; }

    /// <summary>The change may still wait for another to go with (see <see cref="GroupCommitQueue{TValue}.Enqueue"/>).</summary>
    bool Lingers { get; }

    TValue? Apply(TValue? current, RegisterContext context);

    void Complete();

    void Fail(Exception exception);
}

/// <summary>A queued change and its caller's task. Applying again (a retried round) replaces the previous result.</summary>
internal sealed class PendingChange<TValue, TResult>(RegisterChange<TValue, TResult> change, long arrived, bool isPeek = false, Func<bool>? lingerWhile = null) : IPendingChange<TValue>
    where TValue : class
{
    private readonly TaskCompletionSource<TResult> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TResult? _result;
    private Exception? _error;

    public long Arrived => arrived;

    public bool IsPeek => isPeek;

    public bool Lingers
    {
        get
        {
            try
            {
                return lingerWhile?.Invoke() == true;
            }
            catch (Exception)
            {
                // A predicate that fails does not hold the change (nor the changes queued behind it) back.
                return false;
            }
        }
    }

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
