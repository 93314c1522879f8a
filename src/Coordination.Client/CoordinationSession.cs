using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>Why a session was lost.</summary>
public sealed class SessionLostEventArgs(string reason) : EventArgs
{
    public string Reason { get; } = reason;
}

/// <summary>
/// A session: a lease the cluster keeps while this client sends keepalives. One keepalive covers every
/// lock taken through the session. The client's own deadline is the send time of its last acknowledged
/// keepalive + TTL·(1−ρ) − margin, on this machine's monotonic clock; <see cref="LostToken"/> fires by
/// then, before the cluster can grant the session's locks to anyone else. Pauses of this process beyond
/// that (GC, SIGSTOP) are covered only by fencing tokens.
/// </summary>
public sealed partial class CoordinationSession : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<(string Lock, Guid Request), CoordinationLockHandle> _handles = new();
    private readonly ITimer _deadlineTimer;
    private long _deadline;
    private long _acknowledgedNotice;
    private string? _lostReason;
    private int _closed;
    private Task _keepAlive = Task.CompletedTask;

    internal CoordinationSession(IGrainFactory grains, SessionInfo info, long openSentAt, CoordinationClientOptions options, TimeProvider time, ILogger logger)
    {
        _grains = grains;
        Info = info;
        _options = options;
        _time = time;
        _logger = logger;
        _deadline = DeadlineAfter(openSentAt);
        _deadlineTimer = time.CreateTimer(_ => CheckDeadline(), null, Until(_deadline), Timeout.InfiniteTimeSpan);
    }

    internal SessionInfo Info { get; }

    /// <summary>The client deadline as a timestamp of the session's <see cref="TimeProvider"/> (for tests that compare it across processes).</summary>
    internal long DeadlineTimestamp => Volatile.Read(ref _deadline);

    /// <summary>The session id: a secret that lets its holder act for the session. Do not log it; show <see cref="Tag"/> instead.</summary>
    public string Id => Info.SessionId;

    /// <summary>The public tag holder queries show for this session.</summary>
    public string Tag => Info.Tag;

    /// <summary>The lease length the cluster accepted.</summary>
    public TimeSpan Ttl => Info.Ttl;

    /// <summary>Time left until the client deadline (zero once lost).</summary>
    public TimeSpan Remaining
    {
        get
        {
            var left = Until(Volatile.Read(ref _deadline));
            return IsLost || left < TimeSpan.Zero ? TimeSpan.Zero : left;
        }
    }

    /// <summary>True once the session is lost (deadline passed, expired, closed); final.</summary>
    public bool IsLost => _lost.IsCancellationRequested || Until(Volatile.Read(ref _deadline)) <= TimeSpan.Zero;

    /// <summary>Cancelled when the session is lost: by its client deadline at the latest while this process runs.</summary>
    public CancellationToken LostToken => _lost.Token;

    /// <summary>Why the session was lost, once it is.</summary>
    public string? LostReason => _lostReason;

    /// <summary>Raised once when the session is lost.</summary>
    public event EventHandler<SessionLostEventArgs>? Lost;

    /// <summary>A lock taken through this session (many locks may share one session).</summary>
    public CoordinationLock CreateLock(string name) =>
        new(Names.Validate(name), _ => ValueTask.FromResult(this), _grains, _options, _time, _logger);

    /// <summary>Ends the session now: the cluster releases every lock it holds at once. Idempotent.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        MarkLost("closed by its owner");
        try
        {
            await Retry.UntilAsync(() => _grains.GetGrain<ISessionGrain>(Id).Close(), _options, _time, cancellationToken);
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

        _deadlineTimer.Dispose();
        _lost.Dispose();
        _stop.Dispose();
    }

    internal void Start() => _keepAlive = Task.Run(KeepAliveLoopAsync);

    internal void Register(CoordinationLockHandle handle) => _handles[(handle.LockName, handle.RequestId)] = handle;

    internal void Unregister(CoordinationLockHandle handle) => _handles.TryRemove((handle.LockName, handle.RequestId), out _);

    internal ISessionGrain Grain => _grains.GetGrain<ISessionGrain>(Id);

    private long DeadlineAfter(long sentAt) =>
        sentAt + ToTicks(Ttl * (1 - _options.ClockDriftBound) - _options.DeadlineMargin);

    private TimeSpan Until(long timestamp) => _time.GetElapsedTime(_time.GetTimestamp(), timestamp);

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private async Task KeepAliveLoopAsync()
    {
        var interval = Ttl * _options.KeepAliveFraction;
        var wait = interval;
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested && !_lost.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(wait, _time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var sent = _time.GetTimestamp();
            try
            {
                var remaining = Remaining;
                if (remaining <= TimeSpan.Zero)
                {
                    CheckDeadline();
                    return;
                }

                var ack = await Grain.KeepAlive(Interlocked.Read(ref _acknowledgedNotice)).WaitAsync(remaining < _options.CallTimeout ? remaining : _options.CallTimeout, _time, stop);
                Extend(DeadlineAfter(sent));
                Handle(ack.Notices);
                wait = interval;
            }
            catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
            {
                MarkLost(ex.Message);
                return;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A failover or a lost majority: keep trying, faster, until the deadline decides.
                LogKeepAliveFailed(_logger, ex, Tag);
                wait = _options.RetryDelay;
            }
        }
    }

    private void Extend(long deadline)
    {
        lock (_gate)
        {
            if (_lost.IsCancellationRequested || deadline <= _deadline)
            {
                return;
            }

            Volatile.Write(ref _deadline, deadline);
            _deadlineTimer.Change(Until(deadline), Timeout.InfiniteTimeSpan);
        }
    }

    private void CheckDeadline()
    {
        if (Until(Volatile.Read(ref _deadline)) <= TimeSpan.Zero)
        {
            MarkLost("its client deadline passed without an acknowledged keepalive");
        }
    }

    private void Handle(IReadOnlyList<SessionNotice> notices)
    {
        foreach (var notice in notices)
        {
            if (_handles.TryGetValue((notice.LockName, notice.RequestId), out var handle) && handle.FencingToken == notice.FencingToken)
            {
                handle.MarkRevoked(notice.Reason);
            }

            var seen = Interlocked.Read(ref _acknowledgedNotice);
            if (notice.Sequence > seen)
            {
                Interlocked.CompareExchange(ref _acknowledgedNotice, notice.Sequence, seen);
            }
        }
    }

    private void MarkLost(string reason)
    {
        lock (_gate)
        {
            if (_lost.IsCancellationRequested)
            {
                return;
            }

            _lostReason = reason;
            _lost.Cancel();
        }

        LogLost(_logger, Tag, reason);
        Lost?.Invoke(this, new SessionLostEventArgs(reason));
        if (Volatile.Read(ref _closed) == 0)
        {
            // Whatever the cluster still thinks, nobody here will use these locks again: release them now.
            _ = Task.Run(() => CloseAsync());
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Session {Session} lost: {Reason}")]
    private static partial void LogLost(ILogger logger, string session, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Closing session {Session} failed; its lease will end it")]
    private static partial void LogCloseFailed(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Keepalive of session {Session} failed; retrying until its deadline")]
    private static partial void LogKeepAliveFailed(ILogger logger, Exception exception, string session);
}
