using Microsoft.Win32.SafeHandles;

namespace Coordination.Silo.LocalClustering;

/// <summary>
/// An exclusive lock shared by the processes of one machine: flock(2) LOCK_EX on a lock file, held for the few
/// milliseconds of a read-modify-write. A waiter sleeps in the kernel and wakes when the holder unlocks, or
/// dies (the kernel drops a dead process's locks); nothing polls.
/// </summary>
/// <remarks>
/// flock has no timeout of its own, so a contended acquire blocks on a dedicated thread and the caller awaits
/// it against the timeout. On timeout or cancellation the caller disposes the handle; the blocked flock keeps
/// a reference to it (see <see cref="NativeFiles.Lock"/>), so the descriptor is closed only when flock
/// returns, and that close releases the lock it took. The abandoned thread therefore never holds the lock
/// past its own wake-up, and never touches another file. It waits as long as the holder holds: a stopped
/// (SIGSTOP) holder parks one thread per timed-out acquire until it resumes or dies.
/// </remarks>
internal static class CrossProcessFileLock
{
    /// <summary>How long an acquire waits before it fails with a <see cref="TimeoutException"/>: 10 s.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static Task<IDisposable> AcquireAsync(string path, TimeProvider time, CancellationToken cancellationToken) =>
        AcquireAsync(path, DefaultTimeout, time, cancellationToken);

    public static async Task<IDisposable> AcquireAsync(string path, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        cancellationToken.ThrowIfCancellationRequested();
        var file = NativeFiles.OpenLockFile(path);
        Task? wait = null;
        try
        {
            if (!NativeFiles.TryLock(file, path))
            {
                wait = WaitAsync(file, path);
                await wait.WaitAsync(timeout, time, cancellationToken);
            }

            return file;
        }
        catch (TimeoutException ex)
        {
            Abandon(file, wait);
            throw new TimeoutException($"The lock {path} was not free within {timeout}: another process holds it.", ex);
        }
        catch
        {
            Abandon(file, wait);
            throw;
        }
    }

    /// <summary>Closes the descriptor (once a blocked flock returns) and observes the wait's late failure, if any.</summary>
    private static void Abandon(SafeFileHandle file, Task? wait)
    {
        file.Dispose();
        _ = wait?.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
    }

    private static Task WaitAsync(SafeFileHandle file, string path)
    {
        var locked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = new Thread(() =>
        {
            try
            {
                NativeFiles.Lock(file, path);
                locked.TrySetResult();
            }
            catch (Exception ex)
            {
                // ObjectDisposedException when the caller gave up before this thread started: nothing was locked.
                locked.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "flock wait",
        };
        waiter.Start();
        return locked.Task;
    }
}
