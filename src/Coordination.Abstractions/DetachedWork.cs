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

    /// <summary>
    /// Runs <paramref name="work"/> on this thread up to its first await that does not complete at once, with no
    /// execution context (no AsyncLocal of the caller, no Orleans <c>RequestContext</c>, in it or after its awaits).
    /// The work must use <c>ConfigureAwait(false)</c>, so it does not come back to the caller's scheduler, and must
    /// not make grain calls before its first await: Orleans' runtime context is the thread's, not the flow's.
    /// </summary>
    public static void StartHere(Func<Task> work)
    {
        if (Clean is null)
        {
            Start(work);
            return;
        }

        ExecutionContext.Run(Clean, static w => _ = ((Func<Task>)w!)(), work);
    }

    /// <summary>The context of a thread nothing flowed into (null only if the runtime gave none).</summary>
    private static readonly ExecutionContext? Clean = CaptureClean();

    private static ExecutionContext? CaptureClean()
    {
        ExecutionContext? clean = null;
        var thread = new Thread(() => clean = ExecutionContext.Capture());
        thread.UnsafeStart();
        thread.Join();
        return clean;
    }
}
