using Coordination.Lanes;
using Orleans.Concurrency;

namespace Coordination.Grains.Lanes;

/// <summary>Tells a client where the silo that received its call (its gateway) takes lane connections.</summary>
[StatelessWorker]
internal sealed class LockLaneGrain(LockLaneListener listener) : Grain, ILockLaneGrain
{
    public Task<LaneAddress?> Where() => Task.FromResult(listener.Address);
}
