using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.SharedLocks;

/// <summary>
/// One reader-writer lock: many readers or one writer, FIFO with writer preference, one upgradeable reader whose
/// upgrade waits ahead of the queue for the other readers to leave (<see cref="SharedLockStateMachine"/>). A
/// writer's token is strictly above every earlier grant; readers carry the token of the write epoch they read in.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class ReaderWriterLockGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<ReaderWriterLockGrain> logger)
    : SharedLeaseGrain(HoldingKind.ReaderWriterLock, registers, time, options.Value, logger), IReaderWriterLockGrain, IReaderWriterLockGrainInternal
{
    private UpgradeWaiters? _upgrades;

    private UpgradeWaiters Upgrades => _upgrades ??= new UpgradeWaiters(Queue, Time, Options.MaxPark);

    public Task<AcquireResult> Acquire(ReaderWriterAcquireRequest request)
    {
        Queue.ValidateName();
        ArgumentNullException.ThrowIfNull(request);
        RequestRules.ValidateAcquire(request.SessionId, request.RequestId, request.Sequence, request.SettledThrough, request.Mode, request.MaxWait, request.Owner);
        var access = request.Access switch
        {
            ReaderWriterAccess.Read => LeaseAccess.Shared,
            ReaderWriterAccess.Write => LeaseAccess.Exclusive,
            ReaderWriterAccess.UpgradeableRead => LeaseAccess.Upgradeable,
            _ => throw new CoordinationArgumentException("access", $"unknown access {(int)request.Access}"),
        };
        RequestRules.ValidateLockDelay(request.LockDelay, Options.MaxLockDelay);
        var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay, TimeSpan.Zero, Sequence: request.Sequence, Access: access);
        return AcquireAsync(entry, request.Mode, request.MaxWait, request.SettledThrough);
    }

    public async Task<AcquireResult> Upgrade(UpgradeRequest request)
    {
        Queue.ValidateName();
        ArgumentNullException.ThrowIfNull(request);
        RequestRules.ValidateSession(request.SessionId);
        RequestRules.ValidateRequestId(request.RequestId);
        RequestRules.ValidateToken(request.FencingToken);
        RequestRules.ValidateMode(request.Mode);
        RequestRules.ValidateWait(request.MaxWait);
        var name = Queue.Name;
        var (status, token) = await Queue.ChangeQueueAsync((q, epoch) =>
        {
            var (next, s, t) = SharedLockStateMachine.RequestUpgrade(q, name, request.SessionId, request.RequestId, request.FencingToken, request.Mode, epoch);
            return (next, (s, t));
        });
        if (status == UpgradeStatus.Waiting && request.MaxWait > TimeSpan.Zero)
        {
            token = await Upgrades.ParkAsync(request.SessionId, request.RequestId, request.MaxWait);
            status = token > 0 ? UpgradeStatus.Granted : UpgradeStatus.Waiting;
        }

        return status switch
        {
            UpgradeStatus.Granted => new AcquireResult(AcquireStatus.Granted, token, 0),
            UpgradeStatus.NotAvailable => new AcquireResult(AcquireStatus.NotAvailable, 0, -1),
            _ => new AcquireResult(AcquireStatus.Queued, 0, 0),
        };
    }

    public Task<bool> WithdrawUpgrade(string sessionId, Guid requestId)
    {
        Queue.ValidateName();
        RequestRules.ValidateSession(sessionId);
        RequestRules.ValidateRequestId(requestId);
        return Queue.ChangeQueueAsync((q, epoch) => SharedLockStateMachine.WithdrawUpgrade(q, sessionId, requestId, epoch));
    }

    protected override void OnCommitted(SharedLockRecord? record) => _upgrades?.Wake(record ?? SharedLockRecord.Empty);
}
