using Orleans.Concurrency;

namespace Coordination.Grains.Admin;

/// <summary>The no-op call: activated on the silo that receives it, answered in its first turn.</summary>
[StatelessWorker]
internal sealed class PingGrain : Grain, IPingGrain
{
    public Task<long> Ping(long value) => Task.FromResult(value);
}
