using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Locks;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Sessions;

/// <summary>
/// A session: its lease, in its base register, and what it holds, in its shards (<see cref="SessionHoldings"/>);
/// this grain is the proposer of both. The lease is timed here, on this activation's monotonic clock, from the
/// last keepalive it committed, or in full from its first read after a failover: never early. Expiry commits
/// only if no keepalive was committed since the timer started, so a duplicate activation cannot expire a
/// session another one kept alive. Once ended, <see cref="SessionEnding"/> releases everything and deletes it.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed partial class SessionGrain : Grain, ISessionGrain, ISessionGrainInternal
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);
    private readonly RegisterFactory _registers;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionGrain> _logger;
    private readonly UnreachableSessions _unreachableSessions;
    private readonly SessionLease _lease;
    private IRegister<SessionRecord> _register = null!;
    private SessionHoldings _holdings = null!;
    private string _id = string.Empty;
    private IGrainTimer? _leaseTimer;
    private Task? _ending;
    private int _unreachable;
    private bool _deactivated;
    private SessionEnding? _endingRun;

    public SessionGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, UnreachableSessions unreachableSessions, ILogger<SessionGrain> logger)
    {
        _unreachableSessions = unreachableSessions;
        _retention = options.Value.EndedSessionRetention;
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
        _holdings = new SessionHoldings(_id, _registers, _register);
        _ = ReadQuietlyAsync();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A read loop still retrying carries on after this (Orleans runs what is queued): it stops at its next turn, and
        // neither it nor a round already under way counts this activation among the silo's retrying sessions again.
        _deactivated = true;
        if (_unreachable > 0)
        {
            _unreachable = 0;
            _unreachableSessions.Gone();
        }

        return Task.CompletedTask;
    }

    public Task<SessionInfo> Open(TimeSpan ttl, string? owner = null) =>
        _register.ExecuteAsync((s, _) =>
        {
            var next = s ?? SessionRecord.Open(ttl, owner);
            return (next, ToInfo(next));
        });

    public async Task<KeepAliveResult> KeepAlive(long acknowledgedNotice, long settledThrough = 0)
    {
        var result = await _register.ExecuteAsync((s, _) => SessionStateMachine.KeepAlive(s, _id, acknowledgedNotice, settledThrough));
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
        if (_ending is { } ending)
        {
            // Close means "release everything now": answer once every holding has been told (the record itself stays a while).
            await Task.WhenAny(ending, _endingRun?.Released ?? ending).WaitAsync(TimeSpan.FromSeconds(10), _time);
        }

        return info with { Holdings = 0 };
    }

    public Task<SessionInfo> GetInfo() =>
        _register.ExecuteAsync((s, _) => (s, s is null ? throw new SessionNotFoundException(_id) : ToInfo(s)));

    public async Task<TimeSpan> Attach(Holding holding, long sequence, long settledThrough, long[]? finished = null) =>
        (await _holdings.AttachAsync(holding, sequence, settledThrough, finished ?? [])).Ttl;

    public Task<CoverAttach> AttachCover(Holding holding, long sequence, long settledThrough, long[]? finished = null) =>
        _holdings.AttachAsync(holding, sequence, settledThrough, finished ?? []);

    public Task SettleCover(Holding holding, long sequence, long settledThrough) => _holdings.SettleAsync(holding, sequence, settledThrough);

    public Task Detach(Holding holding, long sequence) => _holdings.DetachAsync(holding, sequence);

    public Task<Attachment[]> DetachMany(Attachment[] attachments) => _holdings.DetachManyAsync(attachments ?? []);

    public Task<bool> IsAttached(Holding holding, long sequence) => _holdings.IsAttachedAsync(holding, sequence);

    public Task NotifyRevoked(string lockName, Guid requestId, long token, string reason) =>
        _register.ExecuteAsync((s, _) => (SessionStateMachine.Notify(s, lockName, requestId, token, reason), true));

    public async Task<SessionRevokeResult> Revoke(string reason)
    {
        RequestRules.ValidateRevokeReason(reason);
        var (info, changed) = await _register.ExecuteAsync((s, _) =>
        {
            var next = SessionStateMachine.Revoke(s, _id, reason);
            return (next, (ToInfo(next), !ReferenceEquals(next, s)));
        });
        if (changed)
        {
            LockMetrics.SessionRevokes.Add(1);
        }

        var summary = new SessionSummary(info.Tag, info.Ttl, info.Status, info.Holdings, await LeaseRemaining(), info.Owner, info.Revoked);
        return new SessionRevokeResult(summary, AlreadyEnded: !changed);
    }

    public Task Recover() => _register.ExecuteAsync((s, _) => (s, true));

    public Task<TimeSpan?> LeaseRemaining() =>
        Task.FromResult(_lease.ObservedKeepAlives < 0 ? null : (TimeSpan?)(_lease.Remaining > TimeSpan.Zero ? _lease.Remaining : TimeSpan.Zero));

    /// <summary>
    /// Reads the register once after activation, retrying until it succeeds: a re-activated session nobody
    /// calls (its client is dead) must still start its lease timer, or it would never expire.
    /// </summary>
    private async Task ReadQuietlyAsync()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), MaxRetryDelay);
        while (_lease.ObservedKeepAlives < 0 && _leaseTimer is null && !_deactivated)
        {
            try
            {
                await Recover();
                Reached();
                return;
            }
            catch (Exception ex) when (ex is not SessionNotFoundException)
            {
                Unreachable(ex);
                await backoff.DelayAsync(_time);
            }
        }
    }

    /// <summary>After every committed change: restart the lease on a newly committed keepalive, or start ending once ended.</summary>
    private void OnCommitted(SessionRecord? record)
    {
        // Whatever committed (a keepalive, the read's own round): the register answers again.
        Reached();
        _holdings.Known = record;
        if (record is null)
        {
            _leaseTimer?.Dispose();
            _leaseTimer = null;
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
        if (_ending is null || _ending.IsCompleted)
        {
            _ending = EndAsync();
        }
    }

    private async Task EndAsync()
    {
        // Keep the activation while the end runs: nobody may call an ended session again.
        var keepAlive = this.RegisterGrainTimer(_ => Task.CompletedTask, new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { KeepAlive = true, Interleave = true });
        try
        {
            _endingRun = new SessionEnding(_id, GrainFactory, _register, _holdings, _retention, _time, _logger);
            await _endingRun.RunAsync();
        }
        finally
        {
            keepAlive.Dispose();
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
            Reached();
            if (expired)
            {
                LockMetrics.SessionExpirations.Add(1);
                LogExpired(_logger, SessionIds.Tag(_id), observed);
            }
        }
        catch (Exception ex)
        {
            // No majority right now: try again shortly. The lease can only end late, never early.
            Unreachable(ex);
            _leaseTimer?.Change(TimeSpan.FromMilliseconds(250), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// A failed read or expiry, retried every few hundred milliseconds while no majority answers: told once per run of
    /// failures, here at debug and for the silo's sessions together at information (<see cref="UnreachableSessions"/>).
    /// </summary>
    private void Unreachable(Exception ex)
    {
        if (!_deactivated && _unreachable++ == 0)
        {
            LogReadDeferred(_logger, SessionIds.Tag(_id), ex.GetType().Name, ex.Message);
            _unreachableSessions.Unreachable(SessionIds.Tag(_id), ex);
        }
    }

    private void Reached()
    {
        if (_unreachable > 0)
        {
            LogReached(_logger, SessionIds.Tag(_id), _unreachable);
            _unreachableSessions.Reached(_unreachable);
            _unreachable = 0;
        }
    }

    private SessionInfo ToInfo(SessionRecord r) => new(_id, SessionIds.Tag(_id), r.Ttl, r.Status, _holdings.Count, r.Owner, r.Revoked);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Session {Session} expired after {KeepAlives} keepalives")]
    private static partial void LogExpired(ILogger logger, string session, long keepAlives);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Debug, Message = "Session {Session}: register not reachable yet ({Error}: {Reason}), retrying until it is")]
    private static partial void LogReadDeferred(ILogger logger, string session, string error, string reason);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Debug, Message = "Session {Session}: register reached again after {Retries} failed attempts")]
    private static partial void LogReached(ILogger logger, string session, int retries);
}
