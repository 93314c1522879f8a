using System.Diagnostics;
using Coordination.Silo.LocalClustering;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>
/// The local cluster's file lock: a waiter wakes when the holder releases or dies (no polling), gives up at its
/// timeout or on cancellation without keeping the lock, and is a real flock that other processes see.
/// </summary>
public sealed class CrossProcessFileLockTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("coord-filelock-").FullName;

    private string LockFile => Path.Combine(_dir, "store.lock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_waiter_waits_for_the_holder_and_gets_the_lock_when_it_is_released()
    {
        var holder = await CrossProcessFileLock.AcquireAsync(LockFile, TimeProvider.System, CancellationToken.None);
        var waiter = CrossProcessFileLock.AcquireAsync(LockFile, Long, TimeProvider.System, CancellationToken.None);
        Assert.False(waiter.IsCompleted, "a second acquire must wait while the lock is held");

        holder.Dispose();
        (await waiter.WaitAsync(Long)).Dispose();
    }

    [Fact]
    public async Task A_waiter_that_times_out_fails_and_leaves_the_lock_free_once_the_holder_releases()
    {
        var time = new FakeTimeProvider();
        var holder = await CrossProcessFileLock.AcquireAsync(LockFile, TimeProvider.System, CancellationToken.None);
        var waiter = CrossProcessFileLock.AcquireAsync(LockFile, TimeSpan.FromSeconds(10), time, CancellationToken.None);
        Assert.False(waiter.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(10));
        var error = await Assert.ThrowsAsync<TimeoutException>(() => waiter);
        Assert.Contains(LockFile, error.Message, StringComparison.Ordinal);

        // The abandoned flock takes the lock when the holder releases it, and its close gives it back at once.
        holder.Dispose();
        (await CrossProcessFileLock.AcquireAsync(LockFile, Long, TimeProvider.System, CancellationToken.None)).Dispose();
    }

    [Fact]
    public async Task A_cancelled_waiter_stops_waiting_and_does_not_keep_the_lock()
    {
        using var cancel = new CancellationTokenSource();
        var holder = await CrossProcessFileLock.AcquireAsync(LockFile, TimeProvider.System, CancellationToken.None);
        var waiter = CrossProcessFileLock.AcquireAsync(LockFile, Long, TimeProvider.System, cancel.Token);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter);
        holder.Dispose();
        (await CrossProcessFileLock.AcquireAsync(LockFile, Long, TimeProvider.System, CancellationToken.None)).Dispose();
    }

    [Fact]
    public async Task Another_process_sees_the_lock_and_its_death_frees_it_for_a_waiter()
    {
        using (await CrossProcessFileLock.AcquireAsync(LockFile, TimeProvider.System, CancellationToken.None))
        {
            Assert.Equal(1, await RunFlockAsync("-n", LockFile, "true"));
        }

        Assert.Equal(0, await RunFlockAsync("-n", LockFile, "true"));

        // util-linux flock(1) takes the same flock(2) lock and holds it until it is killed.
        using var holder = Process.Start(new ProcessStartInfo("flock", ["-o", LockFile, "-c", "echo locked; exec sleep 600"]) { RedirectStandardOutput = true })!;
        Assert.Equal("locked", await holder.StandardOutput.ReadLineAsync().WaitAsync(Long));
        var waiter = CrossProcessFileLock.AcquireAsync(LockFile, Long, TimeProvider.System, CancellationToken.None);
        Assert.False(waiter.IsCompleted, "the lock is held by another process");

        holder.Kill(entireProcessTree: true);
        (await waiter.WaitAsync(Long)).Dispose();
    }

    private static async Task<int> RunFlockAsync(params string[] arguments)
    {
        using var flock = Process.Start(new ProcessStartInfo("flock", arguments))!;
        await flock.WaitForExitAsync().WaitAsync(Long);
        return flock.ExitCode;
    }
}
