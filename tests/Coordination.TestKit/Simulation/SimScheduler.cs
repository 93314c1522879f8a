namespace Coordination.TestKit.Simulation;

/// <summary>
/// The kernel's task scheduler: a FIFO queue run on the thread that created it, never inline, so the order in
/// which continuations run depends only on the order they were queued in.
/// </summary>
internal sealed class SimScheduler : TaskScheduler
{
    private readonly Queue<Task> _queue = new();
    private readonly int _owner = Environment.CurrentManagedThreadId;

    public int Count => _queue.Count;

    /// <summary>Anything reaching the simulation from another thread would make runs irreproducible: fail loudly.</summary>
    public void AssertOwner()
    {
        if (Environment.CurrentManagedThreadId != _owner)
        {
            throw new InvalidOperationException("Simulation work escaped to another thread (a thread-pool continuation): the run is no longer deterministic.");
        }
    }

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
