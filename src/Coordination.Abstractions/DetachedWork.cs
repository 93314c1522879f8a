namespace Coordination;

/// <summary>Work started on the thread pool without the caller's execution context, so it carries no grain call's context and no activation carries it.</summary>
internal static class DetachedWork
{
    /// <summary>Starts <paramref name="work"/> on the thread pool; whoever started it observes its outcome some other way.</summary>
    public static void Start(Func<Task> work)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            _ = Task.Run(work);
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(work);
        }
    }
}
