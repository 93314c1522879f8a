using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// A held upgradeable read lock of a <see cref="CoordinationReaderWriterLock"/>: a reader (beside plain readers;
/// only one upgradeable reader at a time) that may become the writer. The upgrade waits, ahead of every queued
/// request, for the other readers to leave; it cannot deadlock with another upgrader, since no other exists. Once
/// upgraded, <see cref="FencingToken"/> is the writer's token, strictly above every earlier grant. Disposing
/// releases both.
/// </summary>
public sealed class CoordinationUpgradeableLockHandle : CoordinationLeaseHandle, IDistributedLockUpgradeableHandle
{
    private readonly IReaderWriterLockGrain _grain;
    private readonly LeaseAcquire _acquire;
    private long _writeToken;

    internal CoordinationUpgradeableLockHandle(CoordinationSession session, string name, Guid requestId, long token, IReaderWriterLockGrain grain, LeaseAcquire acquire)
        : base(session, name, requestId, token, grain.Release)
    {
        _grain = grain;
        _acquire = acquire;
    }

    /// <summary>True once the upgrade to writer was granted.</summary>
    public bool IsUpgraded => Interlocked.Read(ref _writeToken) > 0;

    /// <summary>The reader's token, or once upgraded the writer's.</summary>
    public override long FencingToken => IsUpgraded ? Interlocked.Read(ref _writeToken) : GrantToken;

    /// <summary>Becomes the writer if the other readers leave within <paramref name="timeout"/> (zero: only if they are gone now); false otherwise, still an upgradeable reader.</summary>
    public ValueTask<bool> TryUpgradeToWriteLockAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default)
    {
        var checkedTimeout = LeaseAcquire.Validate(timeout);
        ThrowIfUnusable();
        return new ValueTask<bool>(UpgradeAsync(checkedTimeout, cancellationToken));
    }

    /// <summary>Becomes the writer, waiting up to <paramref name="timeout"/> (null: forever); throws <see cref="TimeoutException"/> otherwise.</summary>
    public ValueTask UpgradeToWriteLockAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var checkedTimeout = LeaseAcquire.Validate(timeout ?? Timeout.InfiniteTimeSpan);
        ThrowIfUnusable();
        return new ValueTask(UpgradeOrThrowAsync(checkedTimeout, cancellationToken));
    }

    public bool TryUpgradeToWriteLock(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryUpgradeToWriteLockAsync(timeout, cancellationToken));

    public void UpgradeToWriteLock(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => UpgradeToWriteLockAsync(timeout, cancellationToken));

    private void ThrowIfUnusable()
    {
        ThrowIfDisposed();
        if (IsUpgraded)
        {
            throw new InvalidOperationException($"The upgradeable read lock of '{Name}' has already been upgraded to a write lock.");
        }
    }

    private async Task UpgradeOrThrowAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!await UpgradeAsync(timeout, cancellationToken))
        {
            throw new TimeoutException($"The read lock of '{Name}' was not upgraded within {timeout}.");
        }
    }

    /// <summary>
    /// Asks again under the same (session, request) while the upgrade waits (idempotent), retries transient
    /// failures until the deadline, and withdraws the upgrade on any way out other than a grant (which also undoes
    /// an upgrade that raced the withdrawal: the holder stays a reader).
    /// </summary>
    private async Task<bool> UpgradeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var options = _acquire.Options;
        var time = _acquire.Time;
        var deadline = Deadline.FromNow(timeout, time);
        var mode = timeout == TimeSpan.Zero ? AcquireMode.IfAvailable : AcquireMode.Wait;
        var withdraw = true;
        var attempted = false;
        var unanswered = false;
        Backoff? backoff = null;
        Exception? transient = null;
        var operation = $"upgrade of '{Name}'";
        try
        {
            while (true)
            {
                Session.ThrowIfLost();
                cancellationToken.ThrowIfCancellationRequested();
                var remaining = deadline.Remaining;
                if (mode == AcquireMode.Wait && remaining == TimeSpan.Zero && attempted)
                {
                    // Out of time: "not upgraded" only if the cluster answered the last attempt; an outage is told as one.
                    return transient is null ? false : throw ParkedCallLoop.Unavailable(operation, transient, deadline.Elapsed);
                }

                var due = deadline.RemainingWith(options.CallGrace);
                if (due == TimeSpan.Zero)
                {
                    throw ParkedCallLoop.Unavailable(operation, transient ?? new TimeoutException("no time was left to ask the cluster"), deadline.Elapsed);
                }

                var park = mode == AcquireMode.IfAvailable ? TimeSpan.Zero : remaining < options.MaxPark ? remaining : options.MaxPark;
                AcquireResult result;
                try
                {
                    attempted = true;
                    result = await _grain.Upgrade(new UpgradeRequest(Session.Id, RequestId, GrantToken, mode, park)).WaitAsync(ParkedCallLoop.Shorter(park + options.CallGrace, due), time, cancellationToken);
                }
                catch (Exception ex) when (Retry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    unanswered |= !ParkedCallLoop.IsReply(ex);
                    transient = ex;
                    backoff ??= new Backoff(options.RetryDelay, ParkedCallLoop.MaxRetryDelay);
                    await Task.Delay(ParkedCallLoop.Shorter(backoff.NextDelay(), ParkedCallLoop.PauseRoom(mode, deadline, options)), time, cancellationToken);
                    continue;
                }

                transient = null;
                backoff = null;

                switch (result.Status)
                {
                    case AcquireStatus.Granted:
                        Session.ThrowIfLost();
                        Interlocked.Exchange(ref _writeToken, result.FencingToken);
                        withdraw = false;
                        return true;
                    case AcquireStatus.NotAvailable:
                        // Asked only if available: nothing was left pending, unless an earlier attempt that got no reply
                        // may still arrive and upgrade the holder; then it is withdrawn.
                        withdraw = unanswered;
                        return false;
                }
            }
        }
        finally
        {
            if (withdraw)
            {
                await Session.Withdrawals.WithdrawAsync(() => _grain.WithdrawUpgrade(Session.Id, RequestId), budget: ParkedCallLoop.WithdrawalBudget(deadline, options));
            }
        }
    }
}
