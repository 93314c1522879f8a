using Coordination.Grains.Hosting;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Queues;

/// <summary>
/// What locks and elections share: a FIFO queue of (session, request) entries kept in a replicated
/// register, whose head holds a grant tied to its session, with fencing tokens, parked waiters and the
/// session bookkeeping that keeps a grant from outliving its session. The grain is the register's
/// proposer and is reentrant, so parked waiters never block releases; every change still goes one accept
/// at a time through the proposer, and the grain's memory holds only caches.
/// </summary>
/// <remarks>
/// A request is committed only after its session has recorded this grain (Attach, a majority accept
/// that fails for a missing or ended session), so the session's end will reach it. A session that ends
/// between its Attach and the commit is caught by the ended-session list in the register; anything that
/// slips past both (a cache in a duplicate activation) is caught by the holder audit, which runs while
/// anyone waits, and by the check every new activation makes of the sessions it finds.
/// </remarks>
/// <typeparam name="TRecord">The register value: the queue itself, or a record that contains it.</typeparam>
internal abstract partial class QueuedLeaseGrain<TRecord> : Grain where TRecord : class
{
    private readonly RegisterFactory _registers;
    private readonly Dictionary<(string Session, Guid Request), TaskCompletionSource<LockGrant>> _parked = [];
    private readonly Dictionary<string, TimeSpan> _attached = new(StringComparer.Ordinal);
    private IGrainTimer? _delayTimer;
    private long _delayTimerFor;
    private IGrainTimer? _auditTimer;
    private string? _invalidName;

    protected QueuedLeaseGrain(RegisterFactory registers, TimeProvider time, CoordinationOptions options, ILogger logger)
    {
        _registers = registers;
        Time = time;
        Options = options;
        Logger = logger;
    }

    protected TimeProvider Time { get; }

    protected CoordinationOptions Options { get; }

    protected ILogger Logger { get; }

    protected string Name { get; private set; } = string.Empty;

    protected IRegister<TRecord> Register { get; private set; } = null!;

    /// <summary>The last value this activation committed.</summary>
    protected TRecord? Last { get; private set; }

    /// <summary>Where this kind keeps its registers ("l/" for locks) and how sessions name their holdings of it ("l:").</summary>
    protected abstract (string RegisterPrefix, string HoldingPrefix) Prefixes { get; }

    /// <summary>The queue inside a register value (empty when there is none yet).</summary>
    protected abstract LockRecord QueueOf(TRecord? record);

    /// <summary>The register value with <paramref name="queue"/> in place, plus whatever the kind derives from a change (an election's revision and history).</summary>
    protected abstract TRecord WithQueue(TRecord? before, LockRecord queue);

    /// <summary>Called after every committed change, after the queue's own reactions.</summary>
    protected virtual void OnCommittedRecord(TRecord? record)
    {
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Name = this.GetPrimaryKeyString();
        _invalidName = Names.Check(Name);
        if (_invalidName is null)
        {
            Register = _registers.Create<TRecord>(Prefixes.RegisterPrefix + Name);
            Register.Committed = OnCommitted;
            _ = VerifySessionsAsync();
        }

        return Task.CompletedTask;
    }

    /// <summary>Applies a change to the queue, and to the register value around it, in one accept.</summary>
    protected Task<T> ChangeQueueAsync<T>(Func<LockRecord, long, (LockRecord Queue, T Result)> change) =>
        Register.ExecuteAsync((r, c) =>
        {
            var queue = QueueOf(r);
            var (next, result) = change(queue, c.TokenEpoch);
            return (ReferenceEquals(next, queue) && r is not null ? r : WithQueue(r, next), result);
        });

    /// <summary>A read that commits (a majority accept of the unchanged value, begun after the call arrived).</summary>
    protected Task<TRecord?> ReadAsync() => Register.ExecuteAsync((r, _) => (r, r));

    /// <summary>
    /// Enqueues (session, request) after its session recorded this grain, and waits, parked on the silo,
    /// up to <paramref name="maxWait"/> for the grant. Returns the grant, or the decision when not granted.
    /// </summary>
    protected async Task<(LockGrant? Grant, AcquireDecision Decision)> EnqueueAsync(LockRequest template, AcquireMode mode, TimeSpan maxWait)
    {
        // Nothing is written for a session that is missing or ended: the session check comes first.
        var entry = template with { SessionTtl = await AttachAsync(template.SessionId) };
        var decision = await ChangeQueueAsync((q, epoch) =>
        {
            var (next, d) = LockStateMachine.Acquire(q, entry, mode, epoch);
            if (next.Waiters.Count > q.Waiters.Count)
            {
                LockStateMachine.EnsureRoom(q, entry, Name);
            }

            return (next, d);
        });
        if (decision.FinishedAs is { } end)
        {
            throw new RequestFinishedException(Name, entry.RequestId, end.ToString());
        }

        if (decision.Status == AcquireStatus.Granted)
        {
            return (GrantOf(entry, decision), decision);
        }

        if (mode != AcquireMode.Wait || maxWait <= TimeSpan.Zero)
        {
            return (null, decision);
        }

        return await ParkAsync(entry, maxWait);
    }

    protected Task<CancelOutcome> WithdrawAsync(string sessionId, Guid requestId)
    {
        ValidateSession(sessionId);
        ValidateRequestId(requestId);
        return ChangeQueueAsync((q, epoch) => LockStateMachine.Cancel(q, sessionId, requestId, epoch));
    }

    protected Task<ReleaseOutcome> ReleaseGrantAsync(string sessionId, Guid requestId, long token)
    {
        ValidateSession(sessionId);
        ValidateRequestId(requestId);
        if (token <= 0)
        {
            throw new CoordinationArgumentException("fencingToken", $"a fencing token is positive (got {token})");
        }

        return ChangeQueueAsync((q, epoch) => LockStateMachine.Release(q, Name, sessionId, requestId, token, epoch));
    }

    /// <summary>Admin revoke: takes the grant away, burns a token and tells the holder's session.</summary>
    protected async Task<RevokeResult> RevokeGrantAsync(string reason)
    {
        if (string.IsNullOrWhiteSpace(reason) || System.Text.Encoding.UTF8.GetByteCount(reason) > Names.MaxBytes)
        {
            throw new CoordinationArgumentException("reason", $"a revoke needs a reason of 1 to {Names.MaxBytes} bytes for the holder and the audit");
        }

        // Tell the holder's session before the grant goes: every keepalive acknowledged after the revoke
        // then carries the notice, so the lock-delay of one session TTL that follows ends only after the
        // holder has heard or its client deadline has passed (the client knows first).
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var holder = QueueOf(await ReadAsync()).Holder;
            if (holder is not null)
            {
                await TellRevokedAsync(holder, reason);
            }

            var (revoked, last, stale) = await ChangeQueueAsync((q, epoch) =>
            {
                var (next, grant, isStale) = LockStateMachine.Revoke(q, holder?.Token, epoch);
                return (next, (grant, next.LastToken, isStale));
            });
            if (!stale)
            {
                if (revoked is not null)
                {
                    LogRevoked(Logger, Name, revoked.Token, reason);
                }

                return new RevokeResult(revoked is null ? null : ToHolder(revoked), last);
            }
        }

        throw new CoordinationException($"Revoke of '{Name}': the holder kept changing while the revoke was under way; nothing was revoked. Try again.");
    }

    protected Task EndSessionAsync(string sessionId, SessionEnd how)
    {
        _attached.Remove(sessionId);
        return ChangeQueueAsync((q, epoch) => LockStateMachine.SessionEnded(q, sessionId, how, epoch));
    }

    protected Task RecoverAsync() => _invalidName is null ? Register.ExecuteAsync((s, _) => (s, true)) : Task.CompletedTask;

    protected void ValidateName()
    {
        if (_invalidName is not null)
        {
            throw new InvalidNameException("name", _invalidName);
        }
    }

    /// <summary>The grant a decision describes (built from the request, not from the latest record, which later changes in the same batch may have moved on).</summary>
    private static LockGrant GrantOf(LockRequest entry, AcquireDecision decision) =>
        new(entry.SessionId, entry.RequestId, decision.Token, entry.Owner, entry.LockDelay, entry.SessionTtl, entry.Payload);

    protected static LockHolder ToHolder(LockGrant g) => new(SessionIds.Tag(g.SessionId), g.RequestId, g.Token, g.Owner);

    internal static void ValidateSession(string? sessionId)
    {
        if (string.IsNullOrEmpty(sessionId) || sessionId.Length > 64 || sessionId.Any(char.IsControl) || sessionId.Any(char.IsWhiteSpace))
        {
            throw new InvalidNameException("sessionId", "a session id is 1 to 64 printable characters without spaces, as returned when the session was opened");
        }
    }

    protected static void ValidateRequestId(Guid requestId, string argument = "requestId")
    {
        if (requestId == Guid.Empty)
        {
            throw new CoordinationArgumentException(argument, "a request id must be a fresh, non-empty GUID made by the client");
        }
    }

    protected static void ValidateWait(TimeSpan maxWait)
    {
        if (maxWait < TimeSpan.Zero)
        {
            throw new CoordinationArgumentException("maxWait", $"a wait must not be negative (got {maxWait})");
        }
    }

    protected static void ValidateOwner(string? owner)
    {
        if (owner is not null && Names.Check(owner) is { } problem)
        {
            throw new CoordinationArgumentException("owner", problem.Replace("a name", "owner metadata", StringComparison.Ordinal));
        }
    }

    /// <summary>Records this grain in the session (once per session and activation) and returns the session's TTL.</summary>
    private async Task<TimeSpan> AttachAsync(string sessionId)
    {
        if (_attached.TryGetValue(sessionId, out var ttl))
        {
            return ttl;
        }

        ttl = await GrainFactory.GetGrain<ISessionGrainInternal>(sessionId).Attach(Prefixes.HoldingPrefix + Name);
        if (!QueueOf(Last).EndedSessions.Contains(sessionId))
        {
            _attached[sessionId] = ttl;
        }

        return ttl;
    }

    /// <summary>
    /// After an activation, and while anyone waits for a held grant: confirm that every session the
    /// register names is alive and lists this grain. A session found ended or vanished is removed, so no
    /// grant can outlive its session.
    /// </summary>
    private async Task VerifySessionsAsync(bool holderOnly = false)
    {
        try
        {
            var queue = QueueOf(await ReadAsync());
            var sessions = holderOnly ? (queue.Holder is { } h ? [h.SessionId] : []) : queue.Sessions().ToList();
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
                    LogSessionVanished(Logger, Name, SessionIds.Tag(session));
                    await EndSessionAsync(session, SessionEnd.Vanished);
                }
            }
        }
        catch (Exception ex)
        {
            LogVerifyDeferred(Logger, ex, Name);
        }
    }

    private async Task<(LockGrant? Grant, AcquireDecision Decision)> ParkAsync(LockRequest entry, TimeSpan maxWait)
    {
        var key = (entry.SessionId, entry.RequestId);
        var early = Resolve(key, QueueOf(Last));
        if (early.Done)
        {
            return (early.Grant ?? throw early.Error!, default);
        }

        if (!_parked.TryGetValue(key, out var parked))
        {
            parked = new TaskCompletionSource<LockGrant>(TaskCreationOptions.RunContinuationsAsynchronously);
            _parked[key] = parked;
        }

        var wait = maxWait < Options.MaxPark ? maxWait : Options.MaxPark;
        try
        {
            var grant = await parked.Task.WaitAsync(wait, Time);
            return (grant, new AcquireDecision(AcquireStatus.Granted, grant.Token, 0, null));
        }
        catch (TimeoutException)
        {
            // Still queued, as far as this activation knows: answer with a fresh majority read of our place
            // (a read, never a re-enqueue: the entry may have been removed and forgotten meanwhile). The
            // client calls again to keep its place.
            var queue = QueueOf(await ReadAsync());
            var outcome = Resolve(key, queue);
            if (!outcome.Done)
            {
                var position = queue.Waiters.FindIndex(w => w.SessionId == entry.SessionId && w.RequestId == entry.RequestId);
                return (null, new AcquireDecision(AcquireStatus.Queued, 0, position, null));
            }

            var grant = outcome.Grant ?? throw outcome.Error!;
            return (grant, new AcquireDecision(AcquireStatus.Granted, grant.Token, 0, null));
        }
    }

    /// <summary>After every committed change: wake parked callers, forget ended sessions, and arm or drop the lock-delay and audit timers.</summary>
    private void OnCommitted(TRecord? record)
    {
        try
        {
            Last = record;
            var queue = QueueOf(record);
            foreach (var ended in queue.EndedSessions)
            {
                _attached.Remove(ended);
            }

            WakeParked(queue);
            ArmLockDelay(queue);
            ArmAudit(queue);
            OnCommittedRecord(record);
        }
        catch (Exception ex)
        {
            LogObserverFailed(Logger, ex, Name);
        }
    }

    private void WakeParked(LockRecord queue)
    {
        foreach (var key in _parked.Keys.ToList())
        {
            var outcome = Resolve(key, queue);
            if (!outcome.Done)
            {
                continue;
            }

            var tcs = _parked[key];
            _parked.Remove(key);
            if (outcome.Grant is { } grant)
            {
                tcs.TrySetResult(grant);
            }
            else
            {
                tcs.TrySetException(outcome.Error!);
            }
        }
    }

    /// <summary>A lock-delay is a duration restarted in full by every activation that sees it (never early), and ends only the delay it was started for.</summary>
    private void ArmLockDelay(LockRecord queue)
    {
        if (queue.Delay is { } delay)
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

    /// <summary>While someone waits for a held grant, re-check the holder's session now and then (a grant must never outlive its session).</summary>
    private void ArmAudit(LockRecord queue)
    {
        var needed = queue is { Holder: not null, Waiters.IsEmpty: false };
        if (needed && _auditTimer is null)
        {
            var every = Options.HolderAuditInterval;
            _auditTimer = this.RegisterGrainTimer(_ => VerifySessionsAsync(holderOnly: true), new GrainTimerCreationOptions(every, every) { KeepAlive = true, Interleave = true });
        }
        else if (!needed && _auditTimer is not null)
        {
            _auditTimer.Dispose();
            _auditTimer = null;
        }
    }

    /// <summary>The answer for a parked (session, request) given the committed queue; not done while it is still queued.</summary>
    private (bool Done, LockGrant? Grant, Exception? Error) Resolve((string Session, Guid Request) key, LockRecord queue)
    {
        if (queue.Waiters.Any(w => w.SessionId == key.Session && w.RequestId == key.Request))
        {
            return (false, null, null);
        }

        if (queue.Holder is { } h && h.SessionId == key.Session && h.RequestId == key.Request)
        {
            return (true, h, null);
        }

        if (queue.EndedSessions.Contains(key.Session))
        {
            return (true, null, new SessionExpiredException(key.Session, "it ended while waiting"));
        }

        var end = queue.Finished.Find(f => f.SessionId == key.Session && f.RequestId == key.Request)?.End.ToString() ?? "withdrawn";
        return (true, null, new RequestFinishedException(Name, key.Request, end));
    }

    private async Task EndLockDelayAsync(long afterToken)
    {
        try
        {
            await ChangeQueueAsync((q, epoch) => (LockStateMachine.EndLockDelay(q, afterToken, epoch), true));
            if (_delayTimerFor == afterToken)
            {
                _delayTimer?.Dispose();
                _delayTimer = null;
            }
        }
        catch (Exception ex)
        {
            // No majority now: the timer fires again shortly. It can only end this delay, and only late.
            LogVerifyDeferred(Logger, ex, Name);
            if (_delayTimerFor == afterToken)
            {
                _delayTimer?.Change(TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Records the revoke notice in the holder's session (fails if that cannot be done now). An ended session needs none.</summary>
    private async Task TellRevokedAsync(LockGrant holder, string reason)
    {
        try
        {
            await GrainFactory.GetGrain<ISessionGrainInternal>(holder.SessionId).NotifyRevoked(Name, holder.RequestId, holder.Token, reason);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            // Its end removes the grant anyway.
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "{Name}: grant with token {Token} revoked: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string name, long token, string reason);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "{Name}: checking its sessions deferred (no majority yet)")]
    private static partial void LogVerifyDeferred(ILogger logger, Exception exception, string name);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "{Name}: the state of session {Session} is gone (re-initialised); its grant is held for one more TTL before the queue moves on")]
    private static partial void LogSessionVanished(ILogger logger, string name, string session);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "{Name}: reacting to a committed change failed")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string name);
}
