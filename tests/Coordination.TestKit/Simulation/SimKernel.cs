namespace Coordination.TestKit.Simulation;

/// <summary>
/// The discrete-event kernel every simulation runs on: one thread, a virtual clock (<see cref="Clock"/>), an
/// event queue ordered by (time, sequence), so events due at the same virtual moment run in the order they
/// were scheduled, a FIFO task scheduler whose tasks run to quiescence before the next event, and one
/// <see cref="Random"/> from the seed. Every await in code started here resumes on its scheduler, so a seed
/// fixes the whole interleaving and any failing run can be replayed exactly. The domain models sit on top:
/// the replica network (<c>Coordination.Simulation.Tests.Sim</c>) and the probe network
/// (<see cref="Membership.SwimSimulation"/>).
/// </summary>
internal sealed class SimKernel
{
    /// <summary>How often <see cref="RunUntil(Func{bool}, TimeSpan)"/> looks at its condition, in virtual time.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(1);

    private readonly PriorityQueue<Action, (long Time, long Seq)> _events = new();
    private readonly SimScheduler _scheduler = new();
    private long _seq;

    public SimKernel(int seed)
    {
        Seed = seed;
        Random = new Random(seed);
        Clock = new SimClock(this);
    }

    public int Seed { get; }

    /// <summary>The run's only source of randomness: draw from it in simulation order, never from another thread.</summary>
    public Random Random { get; }

    public SimClock Clock { get; }

    public TaskScheduler Scheduler => _scheduler;

    /// <summary>Virtual time since the start, in ticks (the clock's timestamps).</summary>
    public long Now { get; private set; }

    /// <summary>Virtual time since the start.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(Now);

    public long EventsRun { get; private set; }

    public int PendingTasks => _scheduler.Count;

    /// <summary>Runs <paramref name="action"/> <paramref name="delay"/> from now (at once if negative), after everything already due then.</summary>
    public void Schedule(TimeSpan delay, Action action)
    {
        _scheduler.AssertOwner();
        var at = Now + Math.Max(0, delay.Ticks);
        _events.Enqueue(action, (at, _seq++));
    }

    /// <summary>Starts <paramref name="work"/> on the kernel's scheduler.</summary>
    public Task Start(Func<Task> work) => Start(async () =>
    {
        await work();
        return true;
    });

    /// <summary>
    /// Starts <paramref name="work"/> on the kernel's scheduler. The returned task completes on the
    /// kernel's thread (no Unwrap: its continuations would hop to the thread pool).
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

    /// <summary>Runs tasks and events until <paramref name="until"/> completes (true) or virtual time passes <paramref name="limit"/> from now (false).</summary>
    public bool RunUntil(Task until, TimeSpan limit) => Run(() => until.IsCompleted, Now + limit.Ticks);

    /// <summary>
    /// Runs until <paramref name="condition"/> holds (true) or <paramref name="limit"/> passes (false). The
    /// condition is looked at now and then every virtual millisecond, as an event of its own, so a run stops
    /// at a poll, whatever happened between two.
    /// </summary>
    public bool RunUntil(Func<bool> condition, TimeSpan limit)
    {
        var done = new TaskCompletionSource();
        var deadline = Now + limit.Ticks;
        void Poll()
        {
            if (condition())
            {
                done.TrySetResult();
            }
            else if (Now < deadline)
            {
                Schedule(PollInterval, Poll);
            }
        }

        Poll();
        return RunUntil(done.Task, limit + PollInterval);
    }

    /// <summary>Runs everything due within <paramref name="span"/> of virtual time; the clock then stands at its end.</summary>
    public void RunFor(TimeSpan span) => Run(static () => false, Now + span.Ticks);

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

    private bool Run(Func<bool> done, long end)
    {
        // A test framework's synchronization context would capture our awaits and run them elsewhere.
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return Loop(done, end);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private bool Loop(Func<bool> done, long end)
    {
        while (true)
        {
            _scheduler.RunPending();
            if (done())
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
}
