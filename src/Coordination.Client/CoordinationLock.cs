using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// An exclusive, fenced, FIFO-fair lock held through a session. Implements DistributedLock.Core's
/// <see cref="IDistributedLock"/>: <c>TryAcquire*</c> returns null on timeout, <c>Acquire*</c> throws
/// <see cref="TimeoutException"/>; the handle adds <see cref="CoordinationLockHandle.FencingToken"/>.
/// Without a majority of the lock's replicas, both throw <see cref="QuorumUnavailableException"/>:
/// "not acquired" is only ever reported when the lock was seen taken.
/// </summary>
public sealed class CoordinationLock : IDistributedLock
{
    private readonly Func<CancellationToken, ValueTask<CoordinationSession>> _session;
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ClientMetrics _metrics;

    internal CoordinationLock(string name, Func<CancellationToken, ValueTask<CoordinationSession>> session, IGrainFactory grains, CoordinationClientOptions options, TimeProvider time, ClientMetrics? metrics = null)
    {
        Name = name;
        _session = session;
        _grains = grains;
        _options = options;
        _time = time;
        _metrics = metrics ?? ClientMetrics.Shared;
    }

    public string Name { get; }

    /// <summary>
    /// Takes the lock if it becomes free within <paramref name="timeout"/> (zero: only if free now); null otherwise.
    /// A timeout out of range throws <see cref="ArgumentOutOfRangeException"/> here, not in the returned task.
    /// </summary>
    public ValueTask<CoordinationLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        new(AcquireCoreAsync(Timeouts.Validate(timeout), cancellationToken));

    /// <summary>
    /// Takes the lock, waiting up to <paramref name="timeout"/> (null: forever); throws <see cref="TimeoutException"/> if it
    /// does not get it. A timeout out of range throws <see cref="ArgumentOutOfRangeException"/> here, not in the returned task.
    /// </summary>
    public ValueTask<CoordinationLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        new(OrTimeoutAsync(AcquireCoreAsync(Timeouts.Validate(timeout ?? Timeout.InfiniteTimeSpan), cancellationToken), timeout));

    public CoordinationLockHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryAcquireAsync(timeout, cancellationToken));

    public CoordinationLockHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => AcquireAsync(timeout, cancellationToken));

    /// <summary>The holder, its token and the waiters, read through a majority of the lock's replicas.</summary>
    public Task<LockInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        Retry.UntilAsync(() => _grains.Reference<ILockGrain>(Name).GetInfo(), _options, _time, cancellationToken);

    IDistributedSynchronizationHandle? IDistributedLock.TryAcquire(TimeSpan timeout, CancellationToken cancellationToken) => TryAcquire(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedLock.Acquire(TimeSpan? timeout, CancellationToken cancellationToken) => Acquire(timeout, cancellationToken);

    // Not async: an argument error must reach the caller at the call, as DistributedLock's own locks throw it.
    ValueTask<IDistributedSynchronizationHandle?> IDistributedLock.TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        MaybeAsInterface(TryAcquireAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedLock.AcquireAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        AsInterface(AcquireAsync(timeout, cancellationToken));

    private static async ValueTask<IDistributedSynchronizationHandle?> MaybeAsInterface(ValueTask<CoordinationLockHandle?> acquire) => await acquire;

    private static async ValueTask<IDistributedSynchronizationHandle> AsInterface(ValueTask<CoordinationLockHandle> acquire) => await acquire;

    private async Task<CoordinationLockHandle> OrTimeoutAsync(Task<CoordinationLockHandle?> acquire, TimeSpan? timeout) =>
        await acquire ?? throw new TimeoutException($"Lock '{Name}' was not acquired within {timeout}.");

    /// <summary>
    /// One acquire with a client-made request id and a number in its session, driven by <see cref="ParkedCallLoop"/>:
    /// parked calls re-sent under the same id until granted, "not available" (only if asked without waiting), or out
    /// of time; any other way out, and a "not available" after an attempt that went unanswered, withdraws the request
    /// with cancel(id), which also undoes a grant that raced it.
    /// </summary>
    private Task<CoordinationLockHandle?> AcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _metrics.MeasureAsync(ClientMetrics.Tags.Lock, _time, () => AcquireUnmeasuredAsync(timeout, cancellationToken), cancellationToken);

    private async Task<CoordinationLockHandle?> AcquireUnmeasuredAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = $"acquire of '{Name}'";
        var deadline = Deadline.FromNow(timeout, _time);
        var session = await ParkedCallLoop.SessionWithinAsync(_session, operation, deadline, _options, _time, cancellationToken);
        session.ThrowIfLost();

        var requestId = Guid.NewGuid();
        var grain = _grains.Reference<ILockGrain>(Name);
        var mode = timeout == TimeSpan.Zero ? AcquireMode.IfAvailable : AcquireMode.Wait;
        var request = new ParkedRequest<AcquireResult, CoordinationLockHandle>(
            operation,
            ClientMetrics.Tags.Lock,
            attempt => Acquire(session, grain, new AcquireRequest(session.Id, requestId, mode, attempt.Park, _options.Owner, _options.LockDelay, attempt.Sequence, attempt.SettledThrough)),
            result => result.Status switch
            {
                AcquireStatus.Granted => ParkedReply.Granted,
                AcquireStatus.NotAvailable => ParkedReply.NotAvailable,
                _ => ParkedReply.Queued,
            },
            result => new CoordinationLockHandle(this, grain, session, requestId, result.FencingToken),
            sequence => grain.Cancel(session.Id, requestId, sequence));
        return await ParkedCallLoop.RunAsync(session, request, mode, deadline, _options, _time, cancellationToken);
    }

    private Task<AcquireResult> Acquire(CoordinationSession session, ILockGrain grain, AcquireRequest request) =>
        session.Lane is { } lane ? lane.Acquire(grain, Name, request) : grain.Acquire(request);
}

/// <summary>
/// A held lock. Pass <see cref="FencingToken"/> to what the lock protects and have it refuse lower tokens.
/// <see cref="HandleLostToken"/> fires when the session is lost (by its client deadline, before anyone
/// else can be granted the lock) or when an operator revokes the grant. Disposing releases; idempotent.
/// </summary>
public sealed class CoordinationLockHandle : CoordinationGrant, IDistributedSynchronizationHandle
{
    private readonly ILockGrain _grain;

    internal CoordinationLockHandle(CoordinationLock @lock, ILockGrain grain, CoordinationSession session, Guid requestId, long token)
        : base(session, @lock.Name, requestId, token)
    {
        _grain = grain;
    }

    public string LockName => GrantName;

    public Guid RequestId => GrantId;

    /// <summary>Strictly greater than every earlier grant of this lock, across failovers and restarts.</summary>
    public long FencingToken => GrantToken;

    /// <summary>Fires when the lock may be lost: session lost (client deadline, expiry, close) or grant revoked.</summary>
    public CancellationToken HandleLostToken => LostToken;

    /// <summary>Releases the lock (retrying through failovers, then in the background). Repeating it is harmless.</summary>
    public async ValueTask DisposeAsync()
    {
        var release = new ReleaseRequest(Session.Id, RequestId, FencingToken);
        try
        {
            // A live session would otherwise hold the lock indefinitely, so an unanswered release keeps trying.
            await EndAsync(() => Release(release));
        }
        catch (LockNotHeldException)
        {
            // Revoked meanwhile.
        }
    }

    public void Dispose() => Blocking.Wait(DisposeAsync);

    private protected override Task Abandon() => Release(new ReleaseRequest(Session.Id, RequestId, FencingToken));

    private Task<ReleaseOutcome> Release(ReleaseRequest release) =>
        Session.Lane is { } lane ? lane.Release(_grain, LockName, release) : _grain.Release(release);
}
