using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// A counting semaphore held through a session: up to <see cref="MaxCount"/> holders at once, FIFO, each permit
/// with a fencing token strictly above every earlier permit's; a permit returns when its session ends.
/// Implements DistributedLock.Core's <see cref="IDistributedSemaphore"/>. The count is fixed by the semaphore's
/// first use (while it is in use); an acquire with another count throws <see cref="SemaphoreCountMismatchException"/>.
/// </summary>
public sealed class CoordinationSemaphore : IDistributedSemaphore
{
    private readonly LeaseAcquire _acquire;
    private readonly ISemaphoreGrain _grain;

    internal CoordinationSemaphore(string name, int maxCount, LeaseAcquire acquire, IGrainFactory grains)
    {
        Name = name;
        MaxCount = maxCount;
        _acquire = acquire;
        _grain = grains.Reference<ISemaphoreGrain>(name);
    }

    public string Name { get; }

    public int MaxCount { get; }

    /// <summary>Takes a permit if one frees within <paramref name="timeout"/> (zero: only if free now); null otherwise.</summary>
    public ValueTask<CoordinationSemaphoreHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        new(AcquireCoreAsync(LeaseAcquire.Validate(timeout), cancellationToken));

    /// <summary>Takes a permit, waiting up to <paramref name="timeout"/> (null: forever); throws <see cref="TimeoutException"/> if it does not get one.</summary>
    public ValueTask<CoordinationSemaphoreHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        new(LeaseAcquire.OrThrowAsync(AcquireCoreAsync(LeaseAcquire.Validate(timeout ?? Timeout.InfiniteTimeSpan), cancellationToken), $"A permit of semaphore '{Name}'", timeout ?? Timeout.InfiniteTimeSpan));

    public CoordinationSemaphoreHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryAcquireAsync(timeout, cancellationToken));

    public CoordinationSemaphoreHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => AcquireAsync(timeout, cancellationToken));

    /// <summary>The holders, their tokens and the waiters, read through a majority of the semaphore's replicas.</summary>
    public Task<SharedLockInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        Retry.UntilAsync(_grain.GetInfo, _acquire.Options, _acquire.Time, cancellationToken);

    IDistributedSynchronizationHandle? IDistributedSemaphore.TryAcquire(TimeSpan timeout, CancellationToken cancellationToken) => TryAcquire(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedSemaphore.Acquire(TimeSpan? timeout, CancellationToken cancellationToken) => Acquire(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedSemaphore.TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Handles.UpcastOrNull(TryAcquireAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedSemaphore.AcquireAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Handles.Upcast(AcquireAsync(timeout, cancellationToken));

    private Task<CoordinationSemaphoreHandle?> AcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _acquire.RunAsync(
            $"acquire of semaphore '{Name}'",
            ClientMetrics.Tags.Semaphore,
            timeout,
            (session, id, mode, attempt) => _grain.Acquire(new SemaphoreAcquireRequest(session.Id, id, MaxCount, mode, attempt.Park, _acquire.Options.Owner, attempt.Sequence, attempt.SettledThrough, _acquire.Options.LockDelay)),
            (session, id, token) => new CoordinationSemaphoreHandle(session, Name, id, token, _grain),
            (session, id, sequence) => _grain.Cancel(session.Id, id, sequence),
            cancellationToken);
}
