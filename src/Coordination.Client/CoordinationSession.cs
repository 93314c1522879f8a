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
/// keepalive + TTL·(1−ρ) − margin, measured on this machine's monotonic clock and, as a guard against
/// suspend (when the monotonic clock stops), on its wall clock too, whichever runs out first;
/// <see cref="LostToken"/> fires by then, before the cluster can grant the session's locks to anyone else.
/// Pauses of this process beyond that (GC, SIGSTOP) are covered only by fencing tokens.
/// </summary>
public sealed partial class CoordinationSession : IAsyncDisposable
{
    private const int MaxRememberedRevocations = 256;
    private readonly Lock _gate = new();
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<(string Lock, Guid Request), CoordinationGrant> _handles = new();
    private readonly ConcurrentDictionary<(string Lock, Guid Request, long Token), string> _revokedBeforeRegistered = new();
    private readonly ITimer _deadlineTimer;
    private long _deadline;
    private DateTimeOffset _wallDeadline;
    private long _acknowledgedNotice;
    private string? _lostReason;
    private int _closed;
    private Task _keepAlive = Task.CompletedTask;

    internal CoordinationSession(IGrainFactory grains, SessionInfo info, long openSentAt, DateTimeOffset openSentAtWall, CoordinationClientOptions options, TimeProvider time, ILogger logger, ClusterChangeSignal changes)
    {
        _grains = grains;
        Changes = changes;
        Info = info;
        _options = options;
        _time = time;
        _logger = logger;
        _deadline = openSentAt + ToTicks(Budget);
        _wallDeadline = openSentAtWall + Budget;
        _deadlineTimer = time.CreateTimer(_ => CheckDeadline(), null, NonNegative(Until(_deadline)), Timeout.InfiniteTimeSpan);
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
            if (_lost.IsCancellationRequested)
            {
                return TimeSpan.Zero;
            }

            DateTimeOffset wall;
            lock (_gate)
            {
                wall = _wallDeadline;
            }

            var left = Until(Volatile.Read(ref _deadline));
            var wallLeft = wall - _time.GetUtcNow();
            var min = left < wallLeft ? left : wallLeft;
            return min < TimeSpan.Zero ? TimeSpan.Zero : min;
        }
    }

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
        new(Names.Validate(name), _ => ValueTask.FromResult(this), _grains, _options, _time, _logger);

    /// <summary>An election campaigned in through this session.</summary>
    public CoordinationElection CreateElection(string name) =>
        new(Names.Validate(name), _ => ValueTask.FromResult(this), _grains, _options, _time);

    /// <summary>Ends the session now: the cluster releases every lock it holds at once. Idempotent.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        _stop.Cancel();
        MarkLost("closed by its owner");
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

        _deadlineTimer.Dispose();
    }

    internal void Start() => _keepAlive = Task.Run(KeepAliveLoopAsync);

    /// <summary>Tracks a handle so revoke notices reach it; one revoked before it was tracked is marked at once.</summary>
    internal void Register(CoordinationGrant handle)
    {
        _handles[(handle.GrantName, handle.GrantId)] = handle;
        if (_revokedBeforeRegistered.TryRemove((handle.GrantName, handle.GrantId, handle.GrantToken), out var reason))
        {
            handle.MarkRevoked(reason);
        }
    }

    internal void Unregister(CoordinationGrant handle) => _handles.TryRemove((handle.GrantName, handle.GrantId), out _);

    internal ISessionGrain Grain => _grains.GetGrain<ISessionGrain>(Id);

    /// <summary>Fires when the client loses a gateway (see <see cref="ClusterChangeSignal"/>).</summary>
    internal ClusterChangeSignal Changes { get; }

    /// <summary>
    /// Withdraws (cancels a request, releases a grant, resigns) now if the cluster answers in time, otherwise
    /// keeps withdrawing in the background. A session that already ended withdrew everything, so that is
    /// success too; any other refusal (not held, not leader) is the caller's to judge.
    /// </summary>
    internal async Task WithdrawAsync<T>(Func<Task<T>> withdrawal)
    {
        try
        {
            if (!IsLost)
            {
                await Retry.UntilAsync(withdrawal, _options, _time, CancellationToken.None);
            }
        }
        catch (Exception ex) when (Retry.IsTransient(ex))
        {
            EnsureEventually(withdrawal);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            // The session's end withdrew everything it held.
        }
    }

    /// <summary>
    /// Keeps retrying a withdrawal (a cancel or a release) in the background until it succeeds, fails for
    /// good, or the session ends (which releases everything anyway), so no grant outlives its use.
    /// </summary>
    internal void EnsureEventually(Func<Task> withdrawal) => _ = Task.Run(async () =>
    {
        var delay = _options.RetryDelay;
        while (!_lost.IsCancellationRequested)
        {
            try
            {
                await withdrawal().WaitAsync(_options.CallTimeout, _time);
                return;
            }
            catch (Exception ex) when (Retry.IsTransient(ex))
            {
                try
                {
                    await Task.Delay(delay, _time, _lost.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception ex)
            {
                LogWithdrawFailed(_logger, ex, Tag);
                return;
            }
        }
    });

    private TimeSpan Budget => Ttl * (1 - _options.ClockDriftBound) - _options.DeadlineMargin;

    private TimeSpan Until(long timestamp) => _time.GetElapsedTime(_time.GetTimestamp(), timestamp);

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private static TimeSpan NonNegative(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;

    private async Task KeepAliveLoopAsync()
    {
        var interval = Ttl * _options.KeepAliveFraction;

        // The open may have taken a while: the first keepalive must not wait past half of what is left.
        var wait = Remaining / 2 < interval ? Remaining / 2 : interval;
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
            var sentWall = _time.GetUtcNow();
            try
            {
                var remaining = Remaining;
                if (remaining <= TimeSpan.Zero)
                {
                    CheckDeadline();
                    return;
                }

                var ack = await Grain.KeepAlive(Interlocked.Read(ref _acknowledgedNotice)).WaitAsync(remaining < _options.CallTimeout ? remaining : _options.CallTimeout, _time, stop);
                if (_options.UnsafeDeadlineFromReceipt)
                {
                    (sent, sentWall) = (_time.GetTimestamp(), _time.GetUtcNow());
                }

                Extend(sent + ToTicks(Budget), sentWall + Budget);
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

    private void Extend(long deadline, DateTimeOffset wallDeadline)
    {
        lock (_gate)
        {
            if (_lost.IsCancellationRequested || deadline <= _deadline)
            {
                return;
            }

            _wallDeadline = wallDeadline;
            Volatile.Write(ref _deadline, deadline);
            _deadlineTimer.Change(NonNegative(Until(deadline)), Timeout.InfiniteTimeSpan);
        }
    }

    private void CheckDeadline()
    {
        if (Remaining <= TimeSpan.Zero)
        {
            MarkLost("its client deadline passed without an acknowledged keepalive");
        }
    }

    private void Handle(IReadOnlyList<SessionNotice> notices)
    {
        foreach (var notice in notices)
        {
            if (_handles.TryGetValue((notice.LockName, notice.RequestId), out var handle) && handle.GrantToken == notice.FencingToken)
            {
                handle.MarkRevoked(notice.Reason);
            }
            else
            {
                // The acquire that got this grant may not have registered its handle yet: remember it.
                _revokedBeforeRegistered[(notice.LockName, notice.RequestId, notice.FencingToken)] = notice.Reason;
                if (_revokedBeforeRegistered.Count > MaxRememberedRevocations)
                {
                    _revokedBeforeRegistered.TryRemove(_revokedBeforeRegistered.Keys.First(), out _);
                }
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
            if (_lostReason is not null)
            {
                return;
            }

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

        LogLost(_logger, Tag, reason);
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

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Keepalive of session {Session} failed; retrying until its deadline")]
    private static partial void LogKeepAliveFailed(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Closing session {Session} failed; its lease will end it")]
    private static partial void LogCloseFailed(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "A lost-session callback of session {Session} threw")]
    private static partial void LogCallbackFailed(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Withdrawing a request of session {Session} failed for good")]
    private static partial void LogWithdrawFailed(ILogger logger, Exception exception, string session);
}
