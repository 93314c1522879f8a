using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>Why a session was lost.</summary>
public sealed class SessionLostEventArgs(string reason) : EventArgs
{
    public string Reason { get; } = reason;
}

/// <summary>
/// A session: a lease the cluster keeps while this client sends keepalives. One keepalive covers every
/// lock taken through the session. The client counts its own deadline for the lease, which runs out before the
/// cluster's (<see cref="Remaining"/>), and <see cref="LostToken"/> fires by then, before the cluster can grant
/// the session's locks to anyone else. Pauses of this process beyond that (GC, SIGSTOP) are covered only by
/// fencing tokens.
/// </summary>
/// <remarks>
/// The session's parts, each in its own type: its <see cref="SessionDeadline"/> (which states how the deadline is
/// counted), its <see cref="KeepAliveLoop"/>, its <see cref="RevocationInbox"/>, its <see cref="RequestSequence"/>
/// and its <see cref="BackgroundWithdrawals"/>. The session ties them together and owns being lost: once, for one
/// reason, with the lost signal, the <see cref="Lost"/> event and a close of the lease.
/// </remarks>
public sealed partial class CoordinationSession : IAsyncDisposable
{
    /// <summary>The reason of a session lost at its client deadline.</summary>
    internal const string DeadlinePassed = "its client deadline passed without an acknowledged keepalive";

    private const string ClosedByOwner = "closed by its owner";
    private readonly Lock _gate = new();
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SessionDeadline _deadline;
    private readonly SeenRevisions _seen;
    private string? _lostReason;
    private long _lostAt;
    private int _closed;
    private Task _keepAlive = Task.CompletedTask;

    internal CoordinationSession(IGrainFactory grains, SessionInfo info, ClockReading opened, CoordinationClientOptions options, TimeProvider time, ILogger logger, ClusterChangeSignal changes, ClientFaults faults, SeenRevisions? seen = null, ClientMetrics? metrics = null)
    {
        _grains = grains;
        Metrics = metrics ?? ClientMetrics.Shared;
        _seen = seen ?? new SeenRevisions();
        Changes = changes;
        Info = info;
        _options = options;
        _time = time;
        _logger = logger;
        _deadline = faults.NewDeadline(opened, info.Ttl, options, time, _lost.Token, () => MarkLost(DeadlinePassed));
        Withdrawals = new BackgroundWithdrawals(this, options, time, logger);
    }

    internal SessionInfo Info { get; }

    /// <summary>The client's lane for lock calls; null: through Orleans only.</summary>
    internal Lanes.LockLane? Lane { get; init; }

    /// <summary>When <see cref="MarkLost"/> ran, as a timestamp of the session's <see cref="TimeProvider"/> (null before).</summary>
    internal long? LostTimestamp
    {
        get
        {
            lock (_gate)
            {
                return _lostReason is null ? null : _lostAt;
            }
        }
    }

    /// <summary>The meter of the client that opened the session.</summary>
    internal ClientMetrics Metrics { get; }

    /// <summary>The client deadline as a timestamp of the session's <see cref="TimeProvider"/> (for tests that compare it across processes).</summary>
    internal long DeadlineTimestamp => _deadline.Timestamp;

    /// <summary>The session id: a secret that lets its holder act for the session. Do not log it; show <see cref="Tag"/> instead.</summary>
    public string Id => Info.SessionId;

    /// <summary>The public tag holder queries show for this session.</summary>
    public string Tag => Info.Tag;

    /// <summary>The lease length the cluster accepted.</summary>
    public TimeSpan Ttl => Info.Ttl;

    /// <summary>Time left until the client deadline (zero once lost).</summary>
    public TimeSpan Remaining => _deadline.Remaining;

    /// <summary>True once the session is lost (deadline passed, expired, closed); final.</summary>
    public bool IsLost => _lost.IsCancellationRequested || Remaining <= TimeSpan.Zero;

    /// <summary>Cancelled when the session is lost: by its client deadline at the latest while this process runs.</summary>
    public CancellationToken LostToken => _lost.Token;

    /// <summary>Why the session was lost, once it is.</summary>
    public string? LostReason => _lostReason;

    /// <summary>Raised once when the session is lost.</summary>
    public event EventHandler<SessionLostEventArgs>? Lost;

    /// <summary>A lock taken through this session (many locks may share one session).</summary>
    public CoordinationLock CreateLock(string name) =>
        new(Names.Validate(name), _ => ValueTask.FromResult(this), _grains, _options, _time, Metrics);

    /// <summary>A set of locks taken all or nothing through this session (see <see cref="ICoordinationClient.CreateMultiLock"/>).</summary>
    public CoordinationMultiLock CreateMultiLock(IEnumerable<string> names) =>
        new(CoordinationMultiLock.Canonical(names), _ => ValueTask.FromResult(this), _grains, _options, _time, Metrics);

    /// <summary>An election campaigned in through this session.</summary>
    public CoordinationElection CreateElection(string name) =>
        new(Names.Validate(name), _ => ValueTask.FromResult(this), _grains, _options, _time, Changes, Metrics);

    /// <summary>A semaphore with <paramref name="maxCount"/> permits whose permits are held through this session (returned when it ends).</summary>
    public CoordinationSemaphore CreateSemaphore(string name, int maxCount) =>
        new(Names.Validate(name), CoordinationClient.SemaphoreCount(maxCount), new LeaseAcquire(_ => ValueTask.FromResult(this), _options, _time, Metrics), _grains);

    /// <summary>A reader-writer lock held through this session.</summary>
    public CoordinationReaderWriterLock CreateReaderWriterLock(string name) =>
        new(Names.Validate(name), new LeaseAcquire(_ => ValueTask.FromResult(this), _options, _time, Metrics), _grains);
    /// <summary>A named value whose ephemeral writes are bound to this session (deleted when it ends).</summary>
    public CoordinationValue CreateValue(string name) =>
        new(Names.Validate(name), _ => ValueTask.FromResult(this), renewable: false, _grains, _options, _time, Changes, _seen, _logger);

    /// <summary>Ends the session now: the cluster releases every lock it holds at once (after the holders' lock-delay if an operator had revoked it). Idempotent.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        _stop.Cancel();
        MarkLost(ClosedByOwner);
        try
        {
            await Retry.UntilAsync(() => Grain.Close(), _options, _time, cancellationToken);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            // Already over.
        }

        await _keepAlive;
    }

    /// <summary>Closes the session if it is still open; never throws (the lease ends the session anyway if the cluster cannot be reached).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await CloseAsync();
        }
        catch (Exception ex)
        {
            LogCloseFailed(_logger, ex, Tag);
        }

        _deadline.Dispose();
    }

    internal ISessionGrain Grain => _grains.Reference<ISessionGrain>(Id);

    /// <summary>Fires when the client loses a gateway (see <see cref="ClusterChangeSignal"/>).</summary>
    internal ClusterChangeSignal Changes { get; }

    /// <summary>The grants revoke notices are delivered to.</summary>
    internal RevocationInbox Revocations { get; } = new();

    /// <summary>Numbers the session's acquires and campaigns and keeps its settled-through mark.</summary>
    internal RequestSequence Requests { get; } = new();

    /// <summary>Cancels, releases and resigns for this session, now or in the background.</summary>
    internal BackgroundWithdrawals Withdrawals { get; }

    internal void Start()
    {
        var loop = new KeepAliveLoop(this, _deadline, Revocations, _options, _time, _logger);
        _keepAlive = Task.Run(() => loop.RunAsync(_stop.Token));
    }

    /// <summary>Throws <see cref="SessionExpiredException"/> once the session is lost: nothing may be asked or granted through it any more.</summary>
    internal void ThrowIfLost()
    {
        if (IsLost)
        {
            throw new SessionExpiredException(Id, LostReason ?? "its client deadline passed");
        }
    }

    /// <summary>Marks the session lost, once: fires <see cref="LostToken"/> and <see cref="Lost"/>, then closes the lease unless it is closing already.</summary>
    internal void MarkLost(string reason)
    {
        lock (_gate)
        {
            if (_lostReason is not null)
            {
                return;
            }

            _lostAt = _time.GetTimestamp();
            _lostReason = reason;
        }

        // Callbacks run outside the lock, and none of them may take the process down.
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException ex)
        {
            LogCallbackFailed(_logger, ex, Tag);
        }

        if (reason == ClosedByOwner)
        {
            LogClosed(_logger, Tag);
        }
        else
        {
            LogLost(_logger, Tag, reason);
            Metrics.RecordSessionLost(reason == DeadlinePassed ? ClientMetrics.Tags.Deadline : ClientMetrics.Tags.Expired);
        }

        try
        {
            Lost?.Invoke(this, new SessionLostEventArgs(reason));
        }
        catch (Exception ex)
        {
            LogCallbackFailed(_logger, ex, Tag);
        }

        if (Volatile.Read(ref _closed) == 0)
        {
            // Whatever the cluster still thinks, nobody here will use these locks again: release them now.
            _ = Task.Run(async () =>
            {
                try
                {
                    await CloseAsync();
                }
                catch (Exception ex)
                {
                    LogCloseFailed(_logger, ex, Tag);
                }
            });
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Session {Session} lost: {Reason}")]
    private static partial void LogLost(ILogger logger, string session, string reason);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "Session {Session} closed by its owner")]
    private static partial void LogClosed(ILogger logger, string session);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Closing session {Session} failed; its lease will end it")]
    private static partial void LogCloseFailed(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "A lost-session callback of session {Session} threw")]
    private static partial void LogCallbackFailed(ILogger logger, Exception exception, string session);
}
