using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Locks;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Sessions;

/// <summary>
/// A session's lease and holdings, proposer of its register. The lease is timed here, on this
/// activation's monotonic clock, from the last keepalive it committed, or in full from its first read
/// after a failover: never early. Expiry commits only if no keepalive was committed since the timer
/// started, so a duplicate activation cannot expire a session another one kept alive.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed partial class SessionGrain : Grain, ISessionGrain, ISessionGrainInternal
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);
    private readonly RegisterFactory _registers;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionGrain> _logger;
    private readonly SessionLease _lease;
    private IRegister<SessionRecord> _register = null!;
    private string _id = string.Empty;
    private IGrainTimer? _leaseTimer;
    private Task? _releasing;

    public SessionGrain(RegisterFactory registers, TimeProvider time, ILogger<SessionGrain> logger)
    {
        _registers = registers;
        _time = time;
        _logger = logger;
        _lease = new SessionLease(time);
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _id = this.GetPrimaryKeyString();
        _register = _registers.Create<SessionRecord>(RegisterKeys.Session(_id));
        _register.Committed = OnCommitted;
        _ = ReadQuietlyAsync();
        return Task.CompletedTask;
    }

    public Task<SessionInfo> Open(TimeSpan ttl) =>
        _register.ExecuteAsync((s, _) =>
        {
            var next = s ?? SessionRecord.Open(ttl);
            return (next, ToInfo(next));
        });

    public async Task<KeepAliveResult> KeepAlive(long acknowledgedNotice, long settledThrough = 0)
    {
        var result = await _register.ExecuteAsync((s, _) => SessionStateMachine.KeepAlive(s, _id, acknowledgedNotice));
        LockMetrics.KeepAlives.Add(1);
        return result;
    }

    public async Task<SessionInfo> Close()
    {
        var info = await _register.ExecuteAsync((s, _) =>
        {
            var next = SessionStateMachine.Close(s, _id);
            return (next, ToInfo(next));
        });
        if (_releasing is { } releasing)
        {
            // Close means "release everything now": answer once every holding has been told.
            await releasing.WaitAsync(TimeSpan.FromSeconds(10), _time);
        }

        return info with { Holdings = 0 };
    }

    public Task<SessionInfo> GetInfo() =>
        _register.ExecuteAsync((s, _) => (s, s is null ? throw new SessionNotFoundException(_id) : ToInfo(s)));

    public Task<TimeSpan> Attach(Holding holding) =>
        _register.ExecuteAsync((s, _) =>
        {
            var next = SessionStateMachine.Attach(s, _id, holding);
            return (next, next.Ttl);
        });

    public Task NotifyRevoked(string lockName, Guid requestId, long token, string reason) =>
        _register.ExecuteAsync((s, _) => (SessionStateMachine.Notify(s, lockName, requestId, token, reason), true));

    public Task Recover() => _register.ExecuteAsync((s, _) => (s, true));

    /// <summary>
    /// Reads the register once after activation, retrying until it succeeds: a re-activated session nobody
    /// calls (its client is dead) must still start its lease timer, or it would never expire.
    /// </summary>
    private async Task ReadQuietlyAsync()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), MaxRetryDelay);
        while (_lease.ObservedKeepAlives < 0 && _leaseTimer is null)
        {
            try
            {
                await Recover();
                return;
            }
            catch (Exception ex) when (ex is not SessionNotFoundException)
            {
                LogReadDeferred(_logger, ex, SessionIds.Tag(_id));
                await backoff.DelayAsync(_time);
            }
        }
    }

    /// <summary>After every committed change: restart the lease on a newly committed keepalive, or start releasing once ended.</summary>
    private void OnCommitted(SessionRecord? record)
    {
        if (record is null)
        {
            return;
        }

        if (record.IsAlive)
        {
            if (_lease.Observe(record) is { } ttl)
            {
                ArmLeaseTimer(ttl);
            }

            return;
        }

        _leaseTimer?.Dispose();
        _leaseTimer = null;
        if (!record.Holdings.IsEmpty && (_releasing is null || _releasing.IsCompleted))
        {
            _releasing = ReleaseHoldingsAsync(record.Status);
        }
    }

    private void ArmLeaseTimer(TimeSpan due)
    {
        if (_leaseTimer is null)
        {
            _leaseTimer = this.RegisterGrainTimer(OnLeaseTimerAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
        }
        else
        {
            _leaseTimer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task OnLeaseTimerAsync(CancellationToken cancellationToken)
    {
        var remaining = _lease.Remaining;
        if (remaining > TimeSpan.Zero)
        {
            _leaseTimer?.Change(remaining, Timeout.InfiniteTimeSpan);
            return;
        }

        var observed = _lease.ObservedKeepAlives;
        try
        {
            var expired = await _register.ExecuteAsync(_lease.Expire());
            if (expired)
            {
                LockMetrics.SessionExpirations.Add(1);
                LogExpired(_logger, SessionIds.Tag(_id), observed);
            }
        }
        catch (Exception ex)
        {
            // No majority right now: try again shortly. The lease can only end late, never early.
            LogReadDeferred(_logger, ex, SessionIds.Tag(_id));
            _leaseTimer?.Change(TimeSpan.FromMilliseconds(250), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Tells every lock and election the ended session held or waited at, retrying until each has taken it,
    /// then forgets it (one of the mechanisms behind "no grant outlives its session", see <see cref="SessionAttachments"/>).
    /// </summary>
    private async Task ReleaseHoldingsAsync(SessionStatus how)
    {
        var keepAlive = this.RegisterGrainTimer(_ => Task.CompletedTask, new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { KeepAlive = true, Interleave = true });
        try
        {
            var backoff = new Backoff(TimeSpan.FromMilliseconds(50), MaxRetryDelay);
            while (true)
            {
                SessionRecord? record;
                try
                {
                    record = await _register.ExecuteAsync((s, _) => (s, s));
                }
                catch (Exception ex)
                {
                    LogReadDeferred(_logger, ex, SessionIds.Tag(_id));
                    await backoff.DelayAsync(_time);
                    continue;
                }

                if (record is null || record.Holdings.IsEmpty)
                {
                    return;
                }

                var results = await Task.WhenAll(record.Holdings.Select(h => TellAsync(h, how)));
                if (results.All(ok => ok))
                {
                    continue;
                }

                await backoff.DelayAsync(_time);
            }
        }
        finally
        {
            keepAlive.Dispose();
        }
    }

    private async Task<bool> TellAsync(Holding holding, SessionStatus how)
    {
        try
        {
            await (holding.Kind switch
            {
                HoldingKind.Lock => GrainFactory.GetGrain<ILockGrainInternal>(holding.Name).OnSessionEnded(_id, how),
                HoldingKind.Election => GrainFactory.GetGrain<IElectionGrainInternal>(holding.Name).OnSessionEnded(_id, how),
                _ => Task.CompletedTask,
            });

            await _register.ExecuteAsync((s, _) => (SessionStateMachine.Released(s, holding), true));
            return true;
        }
        catch (Exception ex)
        {
            LogTellFailed(_logger, ex, SessionIds.Tag(_id), holding.ToString());
            return false;
        }
    }

    private SessionInfo ToInfo(SessionRecord r) => new(_id, SessionIds.Tag(_id), r.Ttl, r.Status, r.Holdings.Count);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Session {Session} expired after {KeepAlives} keepalives")]
    private static partial void LogExpired(ILogger logger, string session, long keepAlives);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Session {Session}: register not reachable yet, retrying")]
    private static partial void LogReadDeferred(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Session {Session}: could not tell {Holding} that the session ended; retrying")]
    private static partial void LogTellFailed(ILogger logger, Exception exception, string session, string holding);
}
