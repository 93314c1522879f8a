using System.Collections.Immutable;
using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.SharedLocks;

/// <summary>
/// What the semaphore and the reader-writer lock share: a lease queue with many holders
/// (<see cref="LeaseQueue{TRecord, TQueue}"/> over <see cref="SharedLockRecord"/>), so sessions, FIFO parking,
/// finished requests, delays and retirement work as they do for the exclusive lock.
/// </summary>
internal abstract class SharedLeaseGrain(HoldingKind kind, RegisterFactory registers, TimeProvider time, CoordinationOptions options, ILogger logger) : Grain
{
    private LeaseQueue<SharedLockRecord, SharedLockRecord> _queue = null!;
    private SharedGrantRevocation _revocation = null!;

    protected LeaseQueue<SharedLockRecord, SharedLockRecord> Queue => _queue;

    protected TimeProvider Time => time;

    protected CoordinationOptions Options => options;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var leaseKind = new LeaseKind<SharedLockRecord, SharedLockRecord>(kind, r => r, (_, queue) => queue, SharedLockRecord.Fresh, r => r.IsEmpty);
        _queue = new LeaseQueue<SharedLockRecord, SharedLockRecord>(this, GrainFactory, leaseKind, registers, time, options, logger) { Committed = OnCommitted };
        _revocation = new SharedGrantRevocation(_queue, GrainFactory, logger);
        _queue.Activate();
        return Task.CompletedTask;
    }

    public Task<CancelOutcome> Cancel(string sessionId, Guid requestId, long sequence = 0)
    {
        _queue.ValidateName();
        return _queue.WithdrawAsync(sessionId, requestId, sequence);
    }

    public Task<ReleaseOutcome> Release(ReleaseRequest request)
    {
        _queue.ValidateName();
        ArgumentNullException.ThrowIfNull(request);
        return _queue.ReleaseAsync(request.SessionId, request.RequestId, request.FencingToken);
    }

    public async Task<SharedLockInfo> GetInfo()
    {
        _queue.ValidateName();
        return InfoOf(await _queue.ReadAsync());
    }

    /// <summary>The state and, for each holder, what is left of its session's lease: one question per session, however many permits it holds.</summary>
    public async Task<WithLeases<SharedLockInfo>> GetInfoWithLeases()
    {
        _queue.ValidateName();
        var r = await _queue.ReadAsync();
        var sessions = r.Holders.Select(h => h.SessionId).Distinct(StringComparer.Ordinal).ToList();
        var remaining = await Task.WhenAll(sessions.Select(s => HolderLease.RemainingAsync(GrainFactory, s)));
        var bySession = sessions.Zip(remaining).Where(p => p.Second is not null).ToDictionary(p => p.First, p => p.Second!.Value, StringComparer.Ordinal);
        var leases = ImmutableDictionary.CreateBuilder<Guid, TimeSpan>();
        foreach (var h in r.Holders)
        {
            if (bySession.TryGetValue(h.SessionId, out var remainingOfSession))
            {
                HolderLease.AddShortest(leases, h.RequestId, remainingOfSession);
            }
        }

        return new(InfoOf(r), leases.ToImmutable());
    }

    private SharedLockInfo InfoOf(SharedLockRecord r) =>
        new(
            _queue.Name,
            r.MaxCount,
            [.. r.Holders.Select(h => HolderOf(r, h))],
            [.. r.Waiters.Select(w => new SharedWaiter(SessionIds.Tag(w.SessionId), w.RequestId, AccessOf(w.Access), w.Owner))],
            r.LastToken,
            r.Upgrade is { IsGranted: false },
            r.Delay is not null);

    public async Task<SharedRevokeResult> Revoke(string reason)
    {
        _queue.ValidateName();
        var (revoked, after) = await _revocation.RevokeAsync(reason);
        return new SharedRevokeResult([.. revoked.Select(h => HolderOf(SharedLockRecord.Empty, h))], after.LastToken);
    }

    public Task OnSessionEnded(string sessionId, SessionStatus how) => _queue.SessionEndedAsync(sessionId, how);

    public Task Recover() => _queue.RecoverAsync();

    /// <summary>Runs an acquire already checked by the grain: enqueued, parked, and answered as the exclusive lock answers.</summary>
    protected async Task<AcquireResult> AcquireAsync(LockRequest entry, AcquireMode mode, TimeSpan maxWait, long settledThrough, Func<SharedLockRecord, SharedLockRecord>? admit = null)
    {
        var (grant, decision) = await _queue.EnqueueAsync(entry, mode, maxWait, settledThrough, admit);
        if (grant is not null)
        {
            return new AcquireResult(AcquireStatus.Granted, grant.Token, 0);
        }

        return decision.Status == AcquireStatus.NotAvailable
            ? new AcquireResult(AcquireStatus.NotAvailable, 0, -1)
            : new AcquireResult(decision.Status, decision.Token, decision.Position);
    }

    /// <summary>After every committed change, after the queue's own reactions.</summary>
    protected virtual void OnCommitted(SharedLockRecord? record)
    {
    }

    private static SharedHolder HolderOf(SharedLockRecord r, LockGrant h) => r.Upgrade is { IsGranted: true } u && u.Of(h)
        ? new SharedHolder(SessionIds.Tag(h.SessionId), h.RequestId, ReaderWriterAccess.Write, u.Token, h.Owner)
        : new SharedHolder(SessionIds.Tag(h.SessionId), h.RequestId, AccessOf(h.Access), h.Token, h.Owner);

    private static ReaderWriterAccess AccessOf(LeaseAccess access) => access switch
    {
        LeaseAccess.Exclusive => ReaderWriterAccess.Write,
        LeaseAccess.Upgradeable => ReaderWriterAccess.UpgradeableRead,
        _ => ReaderWriterAccess.Read,
    };
}
