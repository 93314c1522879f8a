using System.Text;
using Coordination.Grains.Hosting;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Locks;

/// <summary>
/// One exclusive lock, proposer of its register. Reentrant so that parked waiters never block releases;
/// all state changes still go one accept at a time through the proposer. The grain's memory only holds
/// caches (sessions known to list this lock, parked calls); the truth is the register.
/// </summary>
/// <remarks>
/// A request is committed only after its session has recorded this lock (Attach, a majority accept that
/// fails for a missing or ended session), so the session's end will reach the lock. A session that ends
/// between its Attach and the commit is caught by the ended-session list in the register; anything that
/// slips past both (a cache in a duplicate activation) is caught by the holder audit, which runs while
/// anyone waits, and by the check every new activation makes of the sessions it finds.
/// </remarks>
[Reentrant]
[PreferLocalPlacement]
internal sealed partial class LockGrain : Grain, ILockGrain, ILockGrainInternal
{
    private readonly RegisterFactory _registers;
    private readonly TimeProvider _time;
    private readonly CoordinationOptions _options;
    private readonly ILogger<LockGrain> _logger;
    private readonly Dictionary<(string Session, Guid Request), TaskCompletionSource<AcquireResult>> _parked = [];
    private readonly Dictionary<string, TimeSpan> _attached = new(StringComparer.Ordinal);
    private RegisterProposer<LockRecord> _register = null!;
    private LockRecord? _last;
    private IGrainTimer? _delayTimer;
    private long _delayTimerFor;
    private IGrainTimer? _auditTimer;
    private string _name = string.Empty;
    private string? _invalidName;

    public LockGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<LockGrain> logger)
    {
        _registers = registers;
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _name = this.GetPrimaryKeyString();
        _invalidName = Names.Check(_name);
        if (_invalidName is null)
        {
            _register = _registers.Create<LockRecord>(Holdings.RegisterKeyOfLock(_name));
            _register.Committed = OnCommitted;
            _ = VerifySessionsAsync();
        }

        return Task.CompletedTask;
    }

    public async Task<AcquireResult> Acquire(AcquireRequest request)
    {
        var started = _time.GetTimestamp();
        try
        {
            var result = await AcquireCoreAsync(request);
            if (result.Status == AcquireStatus.Granted)
            {
                LockMetrics.Grants.Add(1);
            }

            return result;
        }
        finally
        {
            LockMetrics.AcquireDuration.Record(_time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    private async Task<AcquireResult> AcquireCoreAsync(AcquireRequest request)
    {
        ValidateName();
        Validate(request);

        // Nothing is written for a session that is missing or ended: the session check comes first.
        var ttl = await AttachAsync(request.SessionId);
        var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay, ttl);
        var decision = await _register.ExecuteAsync((s, c) => LockStateMachine.Acquire(s, entry, request.Mode, c.TokenEpoch));
        if (decision.FinishedAs is { } end)
        {
            throw new RequestFinishedException(_name, request.RequestId, end.ToString());
        }

        if (decision.Status == AcquireStatus.Granted || request.Mode != AcquireMode.Wait || request.MaxWait <= TimeSpan.Zero)
        {
            return new AcquireResult(decision.Status, decision.Token, decision.Position);
        }

        return await ParkAsync(request, entry);
    }

    public Task<CancelOutcome> Cancel(string sessionId, Guid requestId)
    {
        ValidateName();
        ValidateSession(sessionId);
        ValidateRequestId(requestId);
        return _register.ExecuteAsync((s, c) => LockStateMachine.Cancel(s, sessionId, requestId, c.TokenEpoch));
    }

    public async Task<ReleaseOutcome> Release(ReleaseRequest request)
    {
        var started = _time.GetTimestamp();
        try
        {
            return await ReleaseCoreAsync(request);
        }
        finally
        {
            LockMetrics.ReleaseDuration.Record(_time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    private Task<ReleaseOutcome> ReleaseCoreAsync(ReleaseRequest request)
    {
        ValidateName();
        ArgumentNullException.ThrowIfNull(request);
        ValidateSession(request.SessionId);
        ValidateRequestId(request.RequestId);
        if (request.FencingToken <= 0)
        {
            throw new CoordinationArgumentException("fencingToken", $"a fencing token is positive (got {request.FencingToken})");
        }

        return _register.ExecuteAsync((s, c) => LockStateMachine.Release(s, _name, request.SessionId, request.RequestId, request.FencingToken, c.TokenEpoch));
    }

    public Task<LockInfo> GetInfo()
    {
        ValidateName();
        return _register.ExecuteAsync((s, _) => (s, ToInfo(s)));
    }

    public async Task<RevokeResult> Revoke(string reason)
    {
        ValidateName();
        if (string.IsNullOrWhiteSpace(reason) || Encoding.UTF8.GetByteCount(reason) > Names.MaxBytes)
        {
            throw new CoordinationArgumentException("reason", $"a revoke needs a reason of 1 to {Names.MaxBytes} bytes for the holder and the audit");
        }

        var (revoked, last) = await _register.ExecuteAsync((s, c) =>
        {
            var (next, grant) = LockStateMachine.Revoke(s, c.TokenEpoch);
            return (next, (grant, next.LastToken));
        });
        if (revoked is not null)
        {
            LogRevoked(_logger, _name, revoked.Token, reason);
            _ = NotifyRevokedAsync(revoked, reason);
        }

        return new RevokeResult(revoked is null ? null : ToHolder(revoked), last);
    }

    public Task OnSessionEnded(string sessionId, SessionStatus how) =>
        EndSessionAsync(sessionId, how == SessionStatus.Expired ? SessionEnd.Expired : SessionEnd.Closed);

    public Task Recover() => _invalidName is null ? _register.ExecuteAsync((s, _) => (s, true)) : Task.CompletedTask;

    private async Task EndSessionAsync(string sessionId, SessionEnd how)
    {
        _attached.Remove(sessionId);
        await _register.ExecuteAsync((s, c) => LockStateMachine.SessionEnded(s, sessionId, how, c.TokenEpoch));
    }

    /// <summary>Records this lock in the session (once per session and activation) and returns the session's TTL.</summary>
    private async Task<TimeSpan> AttachAsync(string sessionId)
    {
        if (_attached.TryGetValue(sessionId, out var ttl))
        {
            return ttl;
        }

        ttl = await GrainFactory.GetGrain<ISessionGrainInternal>(sessionId).Attach(Holdings.Lock(_name));
        if (_last?.EndedSessions.Contains(sessionId) != true)
        {
            _attached[sessionId] = ttl;
        }

        return ttl;
    }

    /// <summary>
    /// After an activation, and while anyone waits for a held lock: confirm that every session the
    /// register names is alive and lists this lock. A session found ended or vanished is removed, so no
    /// grant can outlive its session.
    /// </summary>
    private async Task VerifySessionsAsync(bool holderOnly = false)
    {
        try
        {
            var record = await _register.ExecuteAsync((s, _) => (s, s));
            var sessions = holderOnly ? (record?.Holder is { } h ? [h.SessionId] : []) : record?.Sessions().ToList() ?? [];
            foreach (var session in sessions)
            {
                try
                {
                    _attached.Remove(session);
                    await AttachAsync(session);
                }
                catch (SessionExpiredException)
                {
                    await EndSessionAsync(session, SessionEnd.Expired);
                }
                catch (SessionNotFoundException)
                {
                    LogSessionVanished(_logger, _name, SessionIds.Tag(session));
                    await EndSessionAsync(session, SessionEnd.Vanished);
                }
            }
        }
        catch (Exception ex)
        {
            LogVerifyDeferred(_logger, ex, _name);
        }
    }

    private async Task<AcquireResult> ParkAsync(AcquireRequest request, LockRequest entry)
    {
        var key = (request.SessionId, request.RequestId);
        var early = Resolve(key, _last);
        if (early.Done)
        {
            return early.Result ?? throw early.Error!;
        }

        if (!_parked.TryGetValue(key, out var parked))
        {
            parked = new TaskCompletionSource<AcquireResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            _parked[key] = parked;
        }

        var wait = request.MaxWait < _options.MaxPark ? request.MaxWait : _options.MaxPark;
        try
        {
            return await parked.Task.WaitAsync(wait, _time);
        }
        catch (TimeoutException)
        {
            // Still queued: answer with a fresh majority read of our place; the client calls again to keep it.
            var decision = await _register.ExecuteAsync((s, c) => LockStateMachine.Acquire(s, entry, AcquireMode.Wait, c.TokenEpoch));
            return decision.FinishedAs is { } end
                ? throw new RequestFinishedException(_name, request.RequestId, end.ToString())
                : new AcquireResult(decision.Status, decision.Token, decision.Position);
        }
    }

    /// <summary>After every committed change: wake parked callers, forget ended sessions, and arm or drop the lock-delay and audit timers.</summary>
    private void OnCommitted(LockRecord? record)
    {
        try
        {
            _last = record;
            foreach (var ended in record?.EndedSessions ?? [])
            {
                _attached.Remove(ended);
            }

            WakeParked(record);
            ArmLockDelay(record);
            ArmAudit(record);
        }
        catch (Exception ex)
        {
            LogObserverFailed(_logger, ex, _name);
        }
    }

    private void WakeParked(LockRecord? record)
    {
        foreach (var key in _parked.Keys.ToList())
        {
            var outcome = Resolve(key, record);
            if (!outcome.Done)
            {
                continue;
            }

            var tcs = _parked[key];
            _parked.Remove(key);
            if (outcome.Result is { } result)
            {
                tcs.TrySetResult(result);
            }
            else
            {
                tcs.TrySetException(outcome.Error!);
            }
        }
    }

    /// <summary>A lock-delay is a duration restarted in full by every activation that sees it (never early), and ends only the delay it was started for.</summary>
    private void ArmLockDelay(LockRecord? record)
    {
        if (record?.Delay is { } delay)
        {
            if (_delayTimer is null || _delayTimerFor != delay.AfterToken)
            {
                _delayTimer?.Dispose();
                _delayTimerFor = delay.AfterToken;
                _delayTimer = this.RegisterGrainTimer(ct => EndLockDelayAsync(delay.AfterToken), new GrainTimerCreationOptions(delay.Duration, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
            }
        }
        else if (_delayTimer is not null)
        {
            _delayTimer.Dispose();
            _delayTimer = null;
        }
    }

    /// <summary>While someone waits for a held lock, re-check the holder's session now and then (a grant must never outlive its session).</summary>
    private void ArmAudit(LockRecord? record)
    {
        var needed = record is { Holder: not null, Waiters.IsEmpty: false };
        if (needed && _auditTimer is null)
        {
            var every = _options.HolderAuditInterval;
            _auditTimer = this.RegisterGrainTimer(_ => VerifySessionsAsync(holderOnly: true), new GrainTimerCreationOptions(every, every) { KeepAlive = true, Interleave = true });
        }
        else if (!needed && _auditTimer is not null)
        {
            _auditTimer.Dispose();
            _auditTimer = null;
        }
    }

    /// <summary>The answer for a parked (session, request) given the committed record; not done while it is still queued.</summary>
    private (bool Done, AcquireResult? Result, Exception? Error) Resolve((string Session, Guid Request) key, LockRecord? record)
    {
        if (record is null || record.Waiters.Any(w => w.SessionId == key.Session && w.RequestId == key.Request))
        {
            return (false, null, null);
        }

        if (record.Holder is { } h && h.SessionId == key.Session && h.RequestId == key.Request)
        {
            return (true, new AcquireResult(AcquireStatus.Granted, h.Token, 0), null);
        }

        if (record.EndedSessions.Contains(key.Session))
        {
            return (true, null, new SessionExpiredException(key.Session, "it ended while waiting for the lock"));
        }

        var end = record.Finished.Find(f => f.SessionId == key.Session && f.RequestId == key.Request)?.End.ToString() ?? "withdrawn";
        return (true, null, new RequestFinishedException(_name, key.Request, end));
    }

    private async Task EndLockDelayAsync(long afterToken)
    {
        try
        {
            await _register.ExecuteAsync((s, c) => (LockStateMachine.EndLockDelay(s, afterToken, c.TokenEpoch), true));
            if (_delayTimerFor == afterToken)
            {
                _delayTimer?.Dispose();
                _delayTimer = null;
            }
        }
        catch (Exception ex)
        {
            // No majority now: the timer fires again shortly. It can only end this delay, and only late.
            LogVerifyDeferred(_logger, ex, _name);
            if (_delayTimerFor == afterToken)
            {
                _delayTimer?.Change(TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan);
            }
        }
    }

    private async Task NotifyRevokedAsync(LockGrant revoked, string reason)
    {
        var session = GrainFactory.GetGrain<ISessionGrainInternal>(revoked.SessionId);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            try
            {
                await session.NotifyRevoked(_name, revoked.RequestId, revoked.Token, reason);
                return;
            }
            catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
            {
                return;
            }
            catch (Exception)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100 << Math.Min(attempt, 5)), _time);
            }
        }
    }

    private LockInfo ToInfo(LockRecord? s) => s is null
        ? new LockInfo(_name, null, [], 0, false)
        : new LockInfo(_name, s.Holder is null ? null : ToHolder(s.Holder), [.. s.Waiters.Select(w => new LockWaiter(SessionIds.Tag(w.SessionId), w.RequestId, w.Owner))], s.LastToken, s.Delay is not null);

    private static LockHolder ToHolder(LockGrant g) => new(SessionIds.Tag(g.SessionId), g.RequestId, g.Token, g.Owner);

    private void ValidateName()
    {
        if (_invalidName is not null)
        {
            throw new InvalidNameException("name", _invalidName);
        }
    }

    private void Validate(AcquireRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateSession(request.SessionId);
        ValidateRequestId(request.RequestId);
        if (!Enum.IsDefined(request.Mode))
        {
            throw new CoordinationArgumentException("mode", $"unknown acquire mode {(int)request.Mode}");
        }

        if (request.MaxWait < TimeSpan.Zero)
        {
            throw new CoordinationArgumentException("maxWait", $"a wait must not be negative (got {request.MaxWait})");
        }

        if (request.LockDelay < TimeSpan.Zero || request.LockDelay > _options.MaxLockDelay)
        {
            throw new CoordinationArgumentException("lockDelay", $"a lock-delay must be between 0 and {_options.MaxLockDelay} (got {request.LockDelay})");
        }

        if (request.Owner is not null && Names.Check(request.Owner) is { } problem)
        {
            throw new CoordinationArgumentException("owner", problem.Replace("a name", "owner metadata", StringComparison.Ordinal));
        }
    }

    internal static void ValidateSession(string? sessionId)
    {
        if (string.IsNullOrEmpty(sessionId) || sessionId.Length > 64 || sessionId.Any(char.IsControl) || sessionId.Any(char.IsWhiteSpace))
        {
            throw new InvalidNameException("sessionId", "a session id is 1 to 64 printable characters without spaces, as returned when the session was opened");
        }
    }

    private static void ValidateRequestId(Guid requestId)
    {
        if (requestId == Guid.Empty)
        {
            throw new CoordinationArgumentException("requestId", "a request id must be a fresh, non-empty GUID made by the client");
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Lock {Lock}: grant with token {Token} revoked: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string @lock, long token, string reason);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Lock {Lock}: checking its sessions deferred (no majority yet)")]
    private static partial void LogVerifyDeferred(ILogger logger, Exception exception, string @lock);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Lock {Lock}: the state of session {Session} is gone (re-initialised); its grant is held for one more TTL before the lock moves on")]
    private static partial void LogSessionVanished(ILogger logger, string @lock, string session);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "Lock {Lock}: reacting to a committed change failed")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string @lock);
}
