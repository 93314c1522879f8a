namespace Coordination.Client;

/// <summary>
/// The synchronous methods' wait for their asynchronous twins. The library's awaits keep the caller's context, so on a
/// thread whose <see cref="SynchronizationContext"/> runs one thing at a time (a WPF or WinForms UI thread, a test
/// runner's) or inside a grain, the continuations would be posted to the very thread that blocks waiting for them, and
/// the call would never return. There the operation runs on the thread pool instead; elsewhere it runs on the caller's
/// thread, as before.
/// </summary>
internal static class Blocking
{
    public static T Wait<T>(Func<ValueTask<T>> operation) =>
        OnContextFreeThread ? operation().AsTask().GetAwaiter().GetResult() : Task.Run(() => operation().AsTask()).GetAwaiter().GetResult();

    public static void Wait(Func<ValueTask> operation)
    {
        if (OnContextFreeThread)
        {
            operation().AsTask().GetAwaiter().GetResult();
        }
        else
        {
            Task.Run(() => operation().AsTask()).GetAwaiter().GetResult();
        }
    }

    private static bool OnContextFreeThread => SynchronizationContext.Current is null && TaskScheduler.Current == TaskScheduler.Default;
}
