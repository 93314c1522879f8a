namespace Coordination.Simulation.Tests.Sim;

/// <summary>
/// A deterministic world: one thread, a FIFO task scheduler, a virtual clock and an event queue ordered
/// by (time, sequence). Every await in code started here resumes on this scheduler, so a seed fixes the
/// whole interleaving and any failing run can be replayed exactly.
/// </summary>
public sealed class Simulation
{
    private readonly PriorityQueue<Action, (long Time, long Seq)> _events = new();
    private readonly SimScheduler _scheduler = new();
    private long _seq;

    public Simulation(int seed)
    {
        Seed = seed;
        Random = new Random(seed);
        Clock = new SimClock(this);
    }

    public int Seed { get; }

    public Random Random { get; }

    public SimClock Clock { get; }

    public TaskScheduler Scheduler => _scheduler;

    /// <summary>Virtual time since the start, in ticks.</summary>
    public long Now { get; private set; }

    public long EventsRun { get; private set; }

    public int PendingTasks => _scheduler.Count;

    public void Schedule(TimeSpan delay, Action action)
    {
        _scheduler.AssertOwner();
        var at = Now + Math.Max(0, delay.Ticks);
        _events.Enqueue(action, (at, _seq++));
    }

    /// <summary>Starts <paramref name="work"/> on the simulation's scheduler.</summary>
    public Task Start(Func<Task> work) => Start(async () =>
    {
        await work();
        return true;
    });

    /// <summary>
    /// Starts <paramref name="work"/> on the simulation's scheduler. The returned task completes on the
    /// simulation's thread (no Unwrap: its continuations would hop to the thread pool).
    /// </summary>
    public Task<T> Start<T>(Func<Task<T>> work)
    {
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return StartOnScheduler(work);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private Task<T> StartOnScheduler<T>(Func<Task<T>> work)
    {
        var result = new TaskCompletionSource<T>();
        _ = Task.Factory.StartNew(
            async () =>
            {
                try
                {
                    result.SetResult(await work());
                }
                catch (Exception ex)
                {
                    result.SetException(ex);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.DenyChildAttach,
            _scheduler);
        return result.Task;
    }

    /// <summary>Runs tasks and events until <paramref name="until"/> completes or virtual time passes <paramref name="limit"/>.</summary>
    public bool RunUntil(Task until, TimeSpan limit)
    {
        // A test framework's synchronization context would capture our awaits and run them elsewhere.
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return Loop(until, limit);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private bool Loop(Task until, TimeSpan limit)
    {
        var end = Now + limit.Ticks;
        while (true)
        {
            _scheduler.RunPending();
            if (until.IsCompleted)
            {
                return true;
            }

            if (!_events.TryPeek(out _, out var next) || next.Time > end)
            {
                Now = Math.Max(Now, end);
                return false;
            }

            var action = _events.Dequeue();
            Now = next.Time;
            EventsRun++;
            action();
        }
    }

    /// <summary>Runs everything due within <paramref name="span"/> of virtual time.</summary>
    public void RunFor(TimeSpan span) => RunUntil(new TaskCompletionSource().Task, span);

    private sealed class SimScheduler : TaskScheduler
    {
        private readonly Queue<Task> _queue = new();
        private readonly int _owner = Environment.CurrentManagedThreadId;

        /// <summary>Anything reaching the simulation from another thread would make runs irreproducible: fail loudly.</summary>
        public void AssertOwner()
        {
            if (Environment.CurrentManagedThreadId != _owner)
            {
                throw new InvalidOperationException("Simulation work escaped to another thread (a thread-pool continuation): the run is no longer deterministic.");
            }
        }

        public int Count => _queue.Count;

        public void RunPending()
        {
            while (_queue.TryDequeue(out var task))
            {
                TryExecuteTask(task);
            }
        }

        protected override void QueueTask(Task task)
        {
            AssertOwner();
            _queue.Enqueue(task);
        }

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

        protected override IEnumerable<Task> GetScheduledTasks() => _queue;
    }
}
