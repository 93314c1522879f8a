using System.Collections.Immutable;
using System.Text;
using Coordination.Grains.Hosting;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Coordination.Grains.Locks;

/// <summary>
/// One exclusive lock, proposer of its register. Reentrant so that parked waiters never block releases;
/// all state changes still go one accept at a time through the proposer. The grain's memory only holds
/// caches (which sessions are known to list this lock, parked calls); the truth is the register.
/// </summary>
[Reentrant]
internal sealed partial class LockGrain : Grain, ILockGrain, ILockGrainInternal
{
    private readonly RegisterFactory _registers;
    private readonly TimeProvider _time;
    private readonly CoordinationOptions _options;
    private readonly ILogger<LockGrain> _logger;
    private readonly Dictionary<(string Session, Guid Request), TaskCompletionSource<AcquireResult>> _parked = [];
    private readonly HashSet<string> _attached = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ended = new(StringComparer.Ordinal);
    private RegisterProposer<LockRecord> _register = null!;
    private LockRecord? _last;
    private IGrainTimer? _delayTimer;
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
            _ = RecoverAsync();
        }

        return Task.CompletedTask;
    }

    public async Task<AcquireResult> Acquire(AcquireRequest request)
    {
        ValidateName();
        Validate(request);
        var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay);
        var decision = await _register.ExecuteAsync((s, c) => LockStateMachine.Acquire(s, entry, request.Mode, c.TokenEpoch));
        if (decision.FinishedAs is { } end)
        {
            throw new RequestFinishedException(_name, request.RequestId, end.ToString());
        }

        if (decision.Status == AcquireStatus.NotAvailable)
        {
            return new AcquireResult(AcquireStatus.NotAvailable, 0, -1);
        }

        // The grant (or queue entry) is committed; it becomes visible to the caller only once the session
        // is known to be alive and to list this lock, so its expiry will release it.
        await EnsureAttachedAsync(request.SessionId);
        if (decision.Status == AcquireStatus.Granted || request.Mode != AcquireMode.Wait || request.MaxWait <= TimeSpan.Zero)
        {
            return new AcquireResult(decision.Status, decision.Token, decision.Position);
        }

        return await ParkAsync(request);
    }

    public Task<CancelOutcome> Cancel(string sessionId, Guid requestId)
    {
        ValidateName();
        ValidateSession(sessionId);
        ValidateRequestId(requestId);
        return _register.ExecuteAsync((s, c) => LockStateMachine.Cancel(s, sessionId, requestId, c.TokenEpoch));
    }

    public Task<ReleaseOutcome> Release(ReleaseRequest request)
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

    public async Task OnSessionEnded(string sessionId, SessionStatus how)
    {
        _ended.Add(sessionId);
        _attached.Remove(sessionId);
        await _register.ExecuteAsync((s, c) => LockStateMachine.SessionEnded(s, sessionId, how == SessionStatus.Expired, c.TokenEpoch));
    }

    public Task Recover() => _invalidName is null ? _register.ExecuteAsync((s, _) => (s, true)) : Task.CompletedTask;

    /// <summary>After a failover: read the register, then confirm every session it names is alive (dropping those that are not).</summary>
    private async Task RecoverAsync()
    {
        try
        {
            var record = await _register.ExecuteAsync((s, _) => (s, s));
            foreach (var session in record?.Sessions() ?? [])
            {
                try
                {
                    await EnsureAttachedAsync(session);
                }
                catch (CoordinationException)
                {
                    // The session is gone: EnsureAttachedAsync already removed it from the lock.
                }
            }
        }
        catch (Exception ex)
        {
            LogRecoveryDeferred(_logger, ex, _name);
        }
    }

    private async Task EnsureAttachedAsync(string sessionId)
    {
        if (_attached.Contains(sessionId))
        {
            return;
        }

        try
        {
            await GrainFactory.GetGrain<ISessionGrainInternal>(sessionId).Attach(Holdings.Lock(_name));
            _attached.Add(sessionId);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            _ended.Add(sessionId);
            await _register.ExecuteAsync((s, c) => LockStateMachine.SessionEnded(s, sessionId, expired: false, c.TokenEpoch));
            throw;
        }
    }

    private async Task<AcquireResult> ParkAsync(AcquireRequest request)
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
            var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay);
            var decision = await _register.ExecuteAsync((s, c) => LockStateMachine.Acquire(s, entry, AcquireMode.Wait, c.TokenEpoch));
            return decision.FinishedAs is { } end
                ? throw new RequestFinishedException(_name, request.RequestId, end.ToString())
                : new AcquireResult(decision.Status, decision.Token, decision.Position);
        }
    }

    /// <summary>After every committed change: wake parked callers that were granted or removed, and arm or drop the lock-delay timer.</summary>
    private void OnCommitted(LockRecord? record)
    {
        _last = record;
        if (_parked.Count > 0)
        {
            foreach (var key in _parked.Keys.ToList())
            {
                var outcome = Resolve(key, record);
                if (outcome.Done)
                {
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
        }

        if (record?.PendingDelay is { } delay && _delayTimer is null)
        {
            // A lock-delay is a duration restarted in full by every activation that sees it (never early).
            _delayTimer = this.RegisterGrainTimer(EndLockDelayAsync, new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
        }
        else if (record?.PendingDelay is null && _delayTimer is not null)
        {
            _delayTimer.Dispose();
            _delayTimer = null;
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

        if (_ended.Contains(key.Session))
        {
            return (true, null, new SessionExpiredException(key.Session, "it ended while waiting for the lock"));
        }

        var end = record.Finished.Find(f => f.SessionId == key.Session && f.RequestId == key.Request)?.End.ToString() ?? "withdrawn";
        return (true, null, new RequestFinishedException(_name, key.Request, end));
    }

    private async Task EndLockDelayAsync(CancellationToken cancellationToken)
    {
        _delayTimer?.Dispose();
        _delayTimer = null;
        try
        {
            await _register.ExecuteAsync((s, c) => (LockStateMachine.EndLockDelay(s, c.TokenEpoch), true));
        }
        catch (Exception ex)
        {
            LogRecoveryDeferred(_logger, ex, _name);
            _delayTimer = this.RegisterGrainTimer(EndLockDelayAsync, new GrainTimerCreationOptions(TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
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
        : new LockInfo(_name, s.Holder is null ? null : ToHolder(s.Holder), [.. s.Waiters.Select(w => new LockWaiter(SessionIds.Tag(w.SessionId), w.RequestId, w.Owner))], s.LastToken, s.PendingDelay is not null);

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

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Lock {Lock}: recovery after activation deferred")]
    private static partial void LogRecoveryDeferred(ILogger logger, Exception exception, string @lock);
}
