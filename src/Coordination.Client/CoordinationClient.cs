using Medallion.Threading;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.Client;

/// <summary>The Coordination client over an Orleans <see cref="IGrainFactory"/> (a cluster client, or a silo's own).</summary>
public sealed class CoordinationClient : ICoordinationClient, IDistributedLockProvider, IDistributedSemaphoreProvider, IDistributedUpgradeableReaderWriterLockProvider, IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ClientFaults _faults;
    private readonly Lanes.LockLane? _lane;
    private readonly SemaphoreSlim _sharedGate = new(1, 1);
    private CoordinationSession? _shared;
    private bool _closed;
    private int _openSessions;

    public CoordinationClient(IGrainFactory grains, IOptions<CoordinationClientOptions> options, TimeProvider? time = null, ILogger<CoordinationClient>? logger = null)
        : this(grains, options, time, logger, new ClusterChangeSignal(time ?? TimeProvider.System), ClientFaults.None)
    {
    }

    /// <param name="faults">A broken-on-purpose variant for a test control; <see cref="ClientFaults.None"/> everywhere else.</param>
    /// <param name="lane">The lane for lock calls (see <see cref="Lanes.LockLane"/>), which the client ends when it closes; null: through Orleans only.</param>
    internal CoordinationClient(IGrainFactory grains, IOptions<CoordinationClientOptions> options, TimeProvider? time, ILogger<CoordinationClient>? logger, ClusterChangeSignal changes, ClientFaults faults, ClientMetrics? metrics = null, Lanes.LockLane? lane = null)
    {
        _lane = lane;
        Metrics = metrics ?? ClientMetrics.Shared;
        _grains = grains;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger<CoordinationClient>.Instance;
        Changes = changes;
        _faults = faults;
    }

    /// <summary>
    /// The client library's meter: acquire and campaign waits by outcome, retries, grants active and held, session
    /// keepalives and losses (<c>coordination.client.*</c>). Pass it to OpenTelemetry's <c>AddMeter</c>, or watch it with
    /// <c>dotnet-counters monitor --counters Coordination.Client</c>.
    /// </summary>
    public const string MeterName = "Coordination.Client";

    public event EventHandler<SessionLostEventArgs>? SharedSessionLost;

    /// <summary>This client's meter (<see cref="ClientMetrics.MeterName"/>), which its sessions and grants report to.</summary>
    internal ClientMetrics Metrics { get; }

    /// <summary>True once the client was closed (its host stopping): every acquire is refused from then on.</summary>
    internal bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>The lane for lock calls, if this client has one (for tests).</summary>
    internal Lanes.LockLane? Lane => _lane;

    /// <summary>The shared session while it is open (for tests and the health check).</summary>
    internal CoordinationSession? SharedSession => Volatile.Read(ref _shared);

    /// <summary>Fires when the client loses a gateway, so parked calls re-issue instead of waiting out their park.</summary>
    internal ClusterChangeSignal Changes { get; }

    /// <summary>The latest revision seen per counter, value and latch name, for the retries of their changes.</summary>
    internal SeenRevisions Seen { get; } = new();

    public async Task<CoordinationSession> OpenSessionAsync(TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        // A place is taken before the cluster is asked, and given back when the session ends (closed or lost) or never opens.
        if (Interlocked.Increment(ref _openSessions) > _options.MaxOpenSessions)
        {
            Interlocked.Decrement(ref _openSessions);
            throw new SessionLimitException(_options.MaxOpenSessions);
        }

        CoordinationSession session;
        try
        {
            var requested = ttl ?? _options.SessionTtl;
            var sent = ClockReading.Now(_time);
            var info = await Retry.UntilAsync(() => _grains.GetGrain<ISessionManagerGrain>(0).Open(requested, _options.Owner), _options, _time, cancellationToken);
            session = new CoordinationSession(_grains, info, sent, _options, _time, _logger, Changes, _faults, Seen, Metrics) { Lane = _lane };
        }
        catch
        {
            Interlocked.Decrement(ref _openSessions);
            throw;
        }

        session.LostToken.Register(() => Interlocked.Decrement(ref _openSessions));
        session.Start();
        return session;
    }

    public CoordinationLock CreateLock(string name) =>
        new(Names.Validate(name), SharedSessionAsync, _grains, _options, _time, Metrics);

    public CoordinationElection CreateElection(string name) =>
        new(Names.Validate(name), SharedSessionAsync, _grains, _options, _time, Changes, Metrics);

    public CoordinationMultiLock CreateMultiLock(IEnumerable<string> names) =>
        new(CoordinationMultiLock.Canonical(names), SharedSessionAsync, _grains, _options, _time, Metrics);

    public CoordinationSemaphore CreateSemaphore(string name, int maxCount) =>
        new(Names.Validate(name), SemaphoreCount(maxCount), new LeaseAcquire(SharedSessionAsync, _options, _time, Metrics), _grains);

    public CoordinationReaderWriterLock CreateReaderWriterLock(string name) =>
        new(Names.Validate(name), new LeaseAcquire(SharedSessionAsync, _options, _time, Metrics), _grains);
    public CoordinationValue CreateValue(string name) =>
        new(Names.Validate(name), SharedSessionAsync, renewable: true, _grains, _options, _time, Changes, Seen, _logger);

    public async IAsyncEnumerable<VersionedValue> ListValuesAsync(string prefix, int pageSize = 100, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var listing = _grains.GetGrain<IClusterListingGrain>(0);
        string? after = null;
        do
        {
            var cursor = after;
            var page = await Retry.UntilAsync(() => listing.FindValues(prefix, cursor, pageSize), _options, _time, cancellationToken);
            // Not noted in Seen: a long listing would churn it, and it only makes later retries less cautious.
            foreach (var value in page.Values)
            {
                yield return value;
            }

            after = page.Next;
        }
        while (after is not null);
    }

    public CoordinationAtomicLong CreateAtomicLong(string name) =>
        new(Names.Validate(name), _grains, _options, _time, Seen);

    public CoordinationLatch CreateLatch(string name, int initialCount) =>
        new(Names.Validate(name), initialCount is >= 1 and <= 1_000_000 ? initialCount : throw new ArgumentOutOfRangeException(nameof(initialCount), initialCount, "A latch's initial count is 1 to 1,000,000."), _grains, _options, _time, Changes, Seen);

    IDistributedLock IDistributedLockProvider.CreateLock(string name) => CreateLock(name);

    IDistributedSemaphore IDistributedSemaphoreProvider.CreateSemaphore(string name, int maxCount) => CreateSemaphore(name, maxCount);

    IDistributedReaderWriterLock IDistributedReaderWriterLockProvider.CreateReaderWriterLock(string name) => CreateReaderWriterLock(name);

    IDistributedUpgradeableReaderWriterLock IDistributedUpgradeableReaderWriterLockProvider.CreateUpgradeableReaderWriterLock(string name) => CreateReaderWriterLock(name);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> (as DistributedLock does) for a count outside 1 to <see cref="SemaphoreLimits.MaxPermits"/>.</summary>
    internal static int SemaphoreCount(int maxCount) =>
        maxCount is < 1 or > SemaphoreLimits.MaxPermits
            ? throw new ArgumentOutOfRangeException(nameof(maxCount), maxCount, $"A semaphore has 1 to {SemaphoreLimits.MaxPermits} permits.")
            : maxCount;

    /// <remarks>
    /// Not retried: a revoke whose reply was lost may have taken effect, and repeating it would revoke the next holder.
    /// No reply in time is <see cref="ClusterUnavailableException"/> (read the holder before revoking again).
    /// </remarks>
    public Task<RevokeResult> RevokeLockAsync(string name, string reason, CancellationToken cancellationToken = default) =>
        OnceAsync($"revoke of lock '{name}'", Admin.RevokeLock(Names.Validate(name), reason, Operator), cancellationToken);

    /// <remarks>Not retried, as <see cref="RevokeLockAsync"/>: repeating it would revoke the next leader.</remarks>
    public Task<RevokeResult> RevokeLeadershipAsync(string election, string reason, CancellationToken cancellationToken = default) =>
        OnceAsync($"revoke of leadership of '{election}'", Admin.RevokeLeadership(Names.Validate(election), reason, Operator), cancellationToken);

    /// <remarks>Not retried, as <see cref="RevokeLockAsync"/>: repeating a revoke whose reply was lost would revoke the next holders.</remarks>
    public Task<SharedRevokeResult> RevokeSemaphoreAsync(string name, string reason, CancellationToken cancellationToken = default) =>
        OnceAsync($"revoke of semaphore '{name}'", Admin.RevokeSemaphore(Names.Validate(name), reason, Operator), cancellationToken);

    /// <remarks>Not retried, as <see cref="RevokeLockAsync"/>.</remarks>
    public Task<SharedRevokeResult> RevokeReaderWriterLockAsync(string name, string reason, CancellationToken cancellationToken = default) =>
        OnceAsync($"revoke of reader-writer lock '{name}'", Admin.RevokeReaderWriterLock(Names.Validate(name), reason, Operator), cancellationToken);

    /// <remarks>Sent once, as the other revokes, so the audit trail records it once; a repeat would change nothing but be recorded again.</remarks>
    public Task<SessionRevokeResult> RevokeSessionAsync(string sessionTag, string reason, CancellationToken cancellationToken = default) =>
        OnceAsync($"revoke of session '{sessionTag}'", Admin.RevokeSession(sessionTag, reason, Operator), cancellationToken);

    /// <summary>Revokes go through the admin grain, which records each in the audit trail (as <c>coord revoke</c> and the page do).</summary>
    private IClusterAdminGrain Admin => _grains.GetGrain<IClusterAdminGrain>(0);

    /// <summary>Who revokes, for the audit trail: the client's <see cref="CoordinationClientOptions.Owner"/>.</summary>
    private string Operator => string.IsNullOrWhiteSpace(_options.Owner) ? $"{Environment.MachineName} pid {Environment.ProcessId}" : _options.Owner;

    /// <summary>A call made once (not idempotent): no reply in time, or Orleans' word that none will come, is our typed error.</summary>
    private async Task<T> OnceAsync<T>(string operation, Task<T> call, CancellationToken cancellationToken)
    {
        var sent = Deadline.Infinite(_time);
        try
        {
            return await call.WaitAsync(_options.CallTimeout, _time, cancellationToken);
        }
        catch (Exception ex) when (Retry.IsTransient(ex) && ex is not CoordinationException && !cancellationToken.IsCancellationRequested)
        {
            throw new ClusterUnavailableException(operation, sent.Elapsed, ex);
        }
    }

    /// <summary>Closes the shared session (its locks are released at once) and opens no new one. Also run when the host starts stopping.</summary>
    public async Task CloseAsync()
    {
        CoordinationSession? shared;
        await _sharedGate.WaitAsync();
        try
        {
            _closed = true;
            shared = _shared;
            _shared = null;
        }
        finally
        {
            _sharedGate.Release();
        }

        if (shared is not null)
        {
            await shared.DisposeAsync();
        }

        // After the shared session's releases; other sessions' calls from now on go through Orleans.
        _lane?.Dispose();
    }

    public async ValueTask DisposeAsync() => await CloseAsync();

    private async ValueTask<CoordinationSession> SharedSessionAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _shared);
        if (current is { IsLost: false })
        {
            return current;
        }

        // Lost by its deadline, perhaps before its timer said so: marked with that reason now, so that its loss is told
        // as one (not as the owner's close below) and its place among the open sessions is given back before another
        // opens. Before the gate: the loss runs the application's handlers, which may call the client.
        current?.MarkLost(CoordinationSession.DeadlinePassed);
        await _sharedGate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_shared is { IsLost: false } again)
            {
                return again;
            }

            if (_shared is { } old)
            {
                // Not awaited: closing may take a while, and other acquires must not wait for it.
                _shared = null;
                _ = old.DisposeAsync().AsTask();
            }

            var opened = await OpenSessionAsync(null, cancellationToken);
            var raised = 0;
            void Raise(string reason)
            {
                // Once per session: the session's event, or the check below when it was lost before the handler was attached.
                if (Interlocked.Exchange(ref raised, 1) == 0 && !Volatile.Read(ref _closed))
                {
                    SharedSessionLost?.Invoke(this, new SessionLostEventArgs(reason));
                }
            }

            opened.Lost += (_, e) => Raise(e.Reason);
            if (opened.LostReason is { } reason)
            {
                // Not under the gate: a handler that calls the client must not wait for it.
                _ = Task.Run(() => Raise(reason));
            }

            _shared = opened;
            return _shared;
        }
        finally
        {
            _sharedGate.Release();
        }
    }
}
