using Coordination.Grains.Hosting;
using Coordination.Grains.Queues;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Locks;

/// <summary>One exclusive, fenced, FIFO-fair lock: its register is the queue itself.</summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class LockGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, IOptions<ReplicationOptions> replication, ILogger<LockGrain> logger)
    : QueuedLeaseGrain<LockRecord>(registers, time, options.Value, logger), ILockGrain, ILockGrainInternal
{
    private readonly UnsafeTokens? _unsafeTokens = replication.Value.Unsafe == UnsafeControl.TokensFromMemory ? new() : null;

    protected override (string RegisterPrefix, string HoldingPrefix) Prefixes => (Holdings.LockRegisterPrefix, Holdings.LockPrefix);

    protected override LockRecord QueueOf(LockRecord? record) => record ?? LockRecord.Empty;

    protected override LockRecord WithQueue(LockRecord? before, LockRecord queue) => queue;

    public async Task<AcquireResult> Acquire(AcquireRequest request)
    {
        var started = Time.GetTimestamp();
        try
        {
            ValidateName();
            Validate(request);
            var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay, TimeSpan.Zero);
            var (grant, decision) = await EnqueueAsync(entry, request.Mode, request.MaxWait);
            if (grant is not null)
            {
                LockMetrics.Grants.Add(1);
                return new AcquireResult(AcquireStatus.Granted, _unsafeTokens?.Issue(grant.Token) ?? grant.Token, 0);
            }

            return decision.Status == AcquireStatus.NotAvailable
                ? new AcquireResult(AcquireStatus.NotAvailable, 0, -1)
                : new AcquireResult(decision.Status, decision.Token, decision.Position);
        }
        finally
        {
            LockMetrics.AcquireDuration.Record(Time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public Task<CancelOutcome> Cancel(string sessionId, Guid requestId)
    {
        ValidateName();
        return WithdrawAsync(sessionId, requestId);
    }

    public async Task<ReleaseOutcome> Release(ReleaseRequest request)
    {
        var started = Time.GetTimestamp();
        try
        {
            ValidateName();
            ArgumentNullException.ThrowIfNull(request);
            return await ReleaseGrantAsync(request.SessionId, request.RequestId, _unsafeTokens?.Real(request.FencingToken) ?? request.FencingToken);
        }
        finally
        {
            LockMetrics.ReleaseDuration.Record(Time.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public async Task<LockInfo> GetInfo()
    {
        ValidateName();
        var s = await ReadAsync();
        return s is null
            ? new LockInfo(Name, null, [], 0, false)
            : new LockInfo(Name, s.Holder is null ? null : ToHolder(s.Holder), [.. s.Waiters.Select(w => new LockWaiter(SessionIds.Tag(w.SessionId), w.RequestId, w.Owner))], s.LastToken, s.Delay is not null);
    }

    public Task<RevokeResult> Revoke(string reason)
    {
        ValidateName();
        return RevokeGrantAsync(reason);
    }

    public Task OnSessionEnded(string sessionId, SessionStatus how) =>
        EndSessionAsync(sessionId, how == SessionStatus.Expired ? SessionEnd.Expired : SessionEnd.Closed);

    public Task Recover() => RecoverAsync();

    private void Validate(AcquireRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateSession(request.SessionId);
        ValidateRequestId(request.RequestId);
        if (!Enum.IsDefined(request.Mode))
        {
            throw new CoordinationArgumentException("mode", $"unknown acquire mode {(int)request.Mode}");
        }

        ValidateWait(request.MaxWait);
        if (request.LockDelay < TimeSpan.Zero || request.LockDelay > Options.MaxLockDelay)
        {
            throw new CoordinationArgumentException("lockDelay", $"a lock-delay must be between 0 and {Options.MaxLockDelay} (got {request.LockDelay})");
        }

        ValidateOwner(request.Owner);
    }
}

/// <summary>
/// BROKEN ON PURPOSE (<see cref="UnsafeControl.TokensFromMemory"/>): hands clients tokens from a counter in
/// this activation's memory, which starts again at 1 after a failover, and maps them back on release.
/// </summary>
internal sealed class UnsafeTokens
{
    private readonly Dictionary<long, long> _real = [];
    private long _next;

    public long Issue(long real)
    {
        var fake = _real.FirstOrDefault(p => p.Value == real).Key;
        if (fake == 0)
        {
            fake = ++_next;
            _real[fake] = real;
        }

        return fake;
    }

    public long Real(long fake) => _real.GetValueOrDefault(fake, fake);
}
