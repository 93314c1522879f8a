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
/// One counting semaphore: up to <c>MaxCount</c> permits held at once, FIFO, each with a fresh fencing token
/// and tied to its session (a permit returns when its session ends). The count is fixed by the first use and
/// checked in the same accept as every later acquire (<see cref="SharedLockStateMachine.WithCount"/>).
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class SemaphoreGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<SemaphoreGrain> logger)
    : SharedLeaseGrain(HoldingKind.Semaphore, registers, time, options.Value, logger), ISemaphoreGrain, ISemaphoreGrainInternal
{
    public Task<AcquireResult> Acquire(SemaphoreAcquireRequest request)
    {
        Queue.ValidateName();
        ArgumentNullException.ThrowIfNull(request);
        RequestRules.ValidateAcquire(request.SessionId, request.RequestId, request.Sequence, request.SettledThrough, request.Mode, request.MaxWait, request.Owner);
        ValidateCount(request.MaxCount);
        RequestRules.ValidateLockDelay(request.LockDelay, Options.MaxLockDelay);
        var entry = new LockRequest(request.SessionId, request.RequestId, request.Owner, request.LockDelay, TimeSpan.Zero, Sequence: request.Sequence, Access: LeaseAccess.Shared);
        var name = Queue.Name;
        return AcquireAsync(entry, request.Mode, request.MaxWait, request.SettledThrough, q => SharedLockStateMachine.WithCount(q, request.MaxCount, name));
    }

    public static void ValidateCount(int maxCount)
    {
        if (maxCount is < 1 or > SemaphoreLimits.MaxPermits)
        {
            throw new CoordinationArgumentException("maxCount", $"a semaphore has 1 to {SemaphoreLimits.MaxPermits} permits (got {maxCount})");
        }
    }
}
