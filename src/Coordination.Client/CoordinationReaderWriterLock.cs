using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// A reader-writer lock held through a session: many readers or one writer, FIFO with writer preference (a
/// queued writer holds back the readers behind it, so a stream of readers never starves it), and one
/// upgradeable reader at a time. A writer's fencing token is strictly above every earlier grant; a reader's is
/// that of the write epoch it reads in. Implements DistributedLock.Core's
/// <see cref="IDistributedUpgradeableReaderWriterLock"/>: <c>TryAcquire*</c> returns null on timeout,
/// <c>Acquire*</c> throws <see cref="TimeoutException"/>.
/// </summary>
public sealed class CoordinationReaderWriterLock : IDistributedUpgradeableReaderWriterLock
{
    private readonly LeaseAcquire _acquire;
    private readonly IReaderWriterLockGrain _grain;

    internal CoordinationReaderWriterLock(string name, LeaseAcquire acquire, IGrainFactory grains)
    {
        Name = name;
        _acquire = acquire;
        _grain = grains.Reference<IReaderWriterLockGrain>(name);
    }

    public string Name { get; }

    public ValueTask<CoordinationReaderWriterLockHandle?> TryAcquireReadLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        new(AcquireCoreAsync(ReaderWriterAccess.Read, LeaseAcquire.Validate(timeout), cancellationToken));

    public ValueTask<CoordinationReaderWriterLockHandle> AcquireReadLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        OrThrow(ReaderWriterAccess.Read, timeout, cancellationToken);

    public ValueTask<CoordinationReaderWriterLockHandle?> TryAcquireWriteLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        new(AcquireCoreAsync(ReaderWriterAccess.Write, LeaseAcquire.Validate(timeout), cancellationToken));

    public ValueTask<CoordinationReaderWriterLockHandle> AcquireWriteLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        OrThrow(ReaderWriterAccess.Write, timeout, cancellationToken);

    public ValueTask<CoordinationUpgradeableLockHandle?> TryAcquireUpgradeableReadLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        new(UpgradeableCoreAsync(LeaseAcquire.Validate(timeout), cancellationToken));

    public ValueTask<CoordinationUpgradeableLockHandle> AcquireUpgradeableReadLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var wait = LeaseAcquire.Validate(timeout ?? Timeout.InfiniteTimeSpan);
        return new(LeaseAcquire.OrThrowAsync(UpgradeableCoreAsync(wait, cancellationToken), $"The upgradeable read lock of '{Name}'", wait));
    }

    public CoordinationReaderWriterLockHandle? TryAcquireReadLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryAcquireReadLockAsync(timeout, cancellationToken));

    public CoordinationReaderWriterLockHandle AcquireReadLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => AcquireReadLockAsync(timeout, cancellationToken));

    public CoordinationReaderWriterLockHandle? TryAcquireWriteLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryAcquireWriteLockAsync(timeout, cancellationToken));

    public CoordinationReaderWriterLockHandle AcquireWriteLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => AcquireWriteLockAsync(timeout, cancellationToken));

    public CoordinationUpgradeableLockHandle? TryAcquireUpgradeableReadLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryAcquireUpgradeableReadLockAsync(timeout, cancellationToken));

    public CoordinationUpgradeableLockHandle AcquireUpgradeableReadLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => AcquireUpgradeableReadLockAsync(timeout, cancellationToken));

    /// <summary>The holders, their tokens and the waiters, read through a majority of the lock's replicas.</summary>
    public Task<SharedLockInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        Retry.UntilAsync(_grain.GetInfo, _acquire.Options, _acquire.Time, cancellationToken);

    IDistributedSynchronizationHandle? IDistributedReaderWriterLock.TryAcquireReadLock(TimeSpan timeout, CancellationToken cancellationToken) => TryAcquireReadLock(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedReaderWriterLock.AcquireReadLock(TimeSpan? timeout, CancellationToken cancellationToken) => AcquireReadLock(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedReaderWriterLock.TryAcquireReadLockAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Handles.UpcastOrNull(TryAcquireReadLockAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedReaderWriterLock.AcquireReadLockAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Handles.Upcast(AcquireReadLockAsync(timeout, cancellationToken));

    IDistributedSynchronizationHandle? IDistributedReaderWriterLock.TryAcquireWriteLock(TimeSpan timeout, CancellationToken cancellationToken) => TryAcquireWriteLock(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedReaderWriterLock.AcquireWriteLock(TimeSpan? timeout, CancellationToken cancellationToken) => AcquireWriteLock(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedReaderWriterLock.TryAcquireWriteLockAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Handles.UpcastOrNull(TryAcquireWriteLockAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedReaderWriterLock.AcquireWriteLockAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Handles.Upcast(AcquireWriteLockAsync(timeout, cancellationToken));

    IDistributedLockUpgradeableHandle? IDistributedUpgradeableReaderWriterLock.TryAcquireUpgradeableReadLock(TimeSpan timeout, CancellationToken cancellationToken) =>
        TryAcquireUpgradeableReadLock(timeout, cancellationToken);

    IDistributedLockUpgradeableHandle IDistributedUpgradeableReaderWriterLock.AcquireUpgradeableReadLock(TimeSpan? timeout, CancellationToken cancellationToken) =>
        AcquireUpgradeableReadLock(timeout, cancellationToken);

    ValueTask<IDistributedLockUpgradeableHandle?> IDistributedUpgradeableReaderWriterLock.TryAcquireUpgradeableReadLockAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Handles.UpcastUpgradeableOrNull(TryAcquireUpgradeableReadLockAsync(timeout, cancellationToken));

    ValueTask<IDistributedLockUpgradeableHandle> IDistributedUpgradeableReaderWriterLock.AcquireUpgradeableReadLockAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Handles.UpcastUpgradeable(AcquireUpgradeableReadLockAsync(timeout, cancellationToken));

    private ValueTask<CoordinationReaderWriterLockHandle> OrThrow(ReaderWriterAccess access, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var wait = LeaseAcquire.Validate(timeout ?? Timeout.InfiniteTimeSpan);
        return new(LeaseAcquire.OrThrowAsync(AcquireCoreAsync(access, wait, cancellationToken), $"The {access.ToString().ToLowerInvariant()} lock of '{Name}'", wait));
    }

    private Task<CoordinationReaderWriterLockHandle?> AcquireCoreAsync(ReaderWriterAccess access, TimeSpan timeout, CancellationToken cancellationToken) =>
        RunAsync(access, timeout, (session, id, token) => new CoordinationReaderWriterLockHandle(session, Name, id, token, access, _grain), cancellationToken);

    private Task<CoordinationUpgradeableLockHandle?> UpgradeableCoreAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        RunAsync(ReaderWriterAccess.UpgradeableRead, timeout, (session, id, token) => new CoordinationUpgradeableLockHandle(session, Name, id, token, _grain, _acquire), cancellationToken);

    private Task<THandle?> RunAsync<THandle>(ReaderWriterAccess access, TimeSpan timeout, Func<CoordinationSession, Guid, long, THandle> grant, CancellationToken cancellationToken)
        where THandle : CoordinationGrant =>
        _acquire.RunAsync(
            $"acquire of the {access} lock '{Name}'",
            ClientMetrics.Tags.ReaderWriterLock,
            timeout,
            (session, id, mode, attempt) => _grain.Acquire(new ReaderWriterAcquireRequest(session.Id, id, access, mode, attempt.Park, _acquire.Options.Owner, attempt.Sequence, attempt.SettledThrough, _acquire.Options.LockDelay)),
            grant,
            (session, id, sequence) => _grain.Cancel(session.Id, id, sequence),
            cancellationToken);
}
