using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Locks;

/// <summary>One exclusive, fenced, FIFO-fair lock: a lease queue (<see cref="LeaseQueue{TRecord, TQueue}"/>) whose register value is the queue itself.</summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class LockGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, IClientTokens tokens, ILogger<LockGrain> logger)
    : Grain, ILockGrain, ILockGrainInternal
{
    private static readonly LeaseKind<LockRecord, LockRecord> Kind = new(HoldingKind.Lock, r => r, (_, queue) => queue, LockRecord.Fresh, r => r.IsEmpty);

    private LeaseQueue<LockRecord, LockRecord> _queue = null!;
    private GrantRevocation _revocation = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _queue = new LeaseQueue<LockRecord, LockRecord>(this, GrainFactory, Kind, registers, time, options.Value, logger);
        _revocation = new GrantRevocation(_queue, GrainFactory, logger);
        _queue.Activate();
        return Task.CompletedTask;
    }

    public async Task<AcquireResult> Acquire(AcquireRequest request)
    {
        var started = time.GetTimestamp();
        try
        {
            _queue.ValidateName();
            Validate(request);
            var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay, TimeSpan.Zero, Sequence: request.Sequence);
            var (grant, decision) = await _queue.EnqueueAsync(entry, request.Mode, request.MaxWait, request.SettledThrough);
            if (grant is not null)
            {
                LockMetrics.Grants.Add(1);
                return new AcquireResult(AcquireStatus.Granted, tokens.ToClient(grant.Token), 0);
            }

            if (decision.Status == AcquireStatus.Queued)
            {
                LockMetrics.Waits.Add(1);
            }

            return decision.Status == AcquireStatus.NotAvailable
                ? new AcquireResult(AcquireStatus.NotAvailable, 0, -1)
                : new AcquireResult(decision.Status, decision.Token, decision.Position);
        }
        finally
        {
            LockMetrics.AcquireDuration.Record(time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public Task<CancelOutcome> Cancel(string sessionId, Guid requestId, long sequence = 0)
    {
        _queue.ValidateName();
        return _queue.WithdrawAsync(sessionId, requestId, sequence);
    }

    public async Task<ReleaseOutcome> Release(ReleaseRequest request)
    {
        var started = time.GetTimestamp();
        try
        {
            _queue.ValidateName();
            ArgumentNullException.ThrowIfNull(request);
            return await _queue.ReleaseAsync(request.SessionId, request.RequestId, tokens.FromClient(request.FencingToken));
        }
        finally
        {
            LockMetrics.ReleaseDuration.Record(time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public async Task<LockInfo> GetInfo()
    {
        _queue.ValidateName();
        return ToInfo(await _queue.ReadAsync());
    }

    public async Task<WithLease<LockInfo>> GetInfoWithLease()
    {
        _queue.ValidateName();
        var s = await _queue.ReadAsync();
        return new(ToInfo(s), await HolderLease.RemainingAsync(GrainFactory, s.Holder?.SessionId));
    }

    public Task<RevokeResult> Revoke(string reason)
    {
        _queue.ValidateName();
        return _revocation.RevokeAsync(reason);
    }

    public Task OnSessionEnded(string sessionId, SessionStatus how) => _queue.SessionEndedAsync(sessionId, how);

    public Task Recover() => _queue.RecoverAsync();

    private LockInfo ToInfo(LockRecord s) => new(_queue.Name, s.Holder?.ToHolder(), [.. s.Waiters.Select(w => w.ToWaiter())], s.LastToken, s.Delay is not null);

    private void Validate(AcquireRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        RequestRules.ValidateAcquire(request.SessionId, request.RequestId, request.Sequence, request.SettledThrough, request.Mode, request.MaxWait, request.Owner);
        RequestRules.ValidateLockDelay(request.LockDelay, options.Value.MaxLockDelay);
    }
}
