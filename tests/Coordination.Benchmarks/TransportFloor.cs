using Coordination.TestKit;

namespace Coordination.Benchmarks;

/// <summary>
/// The floors under our lock calls: the same client and silos, each "pair" two no-op grain calls
/// (<see cref="IPingGrain"/>, a stateless worker answered by the gateway silo) where a lock pair makes an acquire and
/// a release. Without <paramref name="throughReplica"/>, what Orleans' messaging alone costs from a client process on
/// this machine (no directory, no replica round, no state): no design that answers a lock call through an Orleans
/// grain call gets above it. With it, each call also waits for one round trip to another silo's replica over our
/// replica transport, the least a change replicated to a majority of three needs (the other vote is local).
/// </summary>
internal sealed class TransportFloorBackend(TestClusterClient client, CoordinationBackend ours, bool throughReplica) : ILockBackend
{
    public string Name => throughReplica ? "floor through a replica" : "transport floor";

    public bool ThroughReplica => throughReplica;

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(client.Grains.GetGrain<IPingGrain>(0), throughReplica));

    /// <summary>Our silos' cost, read the same way as for the locks.</summary>
    public Task<ServerCost> CostAsync() => ours.CostAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>seq and par16 only: a no-op excludes nobody, so contended8 would mean nothing, and fresh is seq for it.</summary>
    public static async Task<(ScenarioResult Seq, ScenarioResult Par16)> MeasureAsync(TransportFloorBackend floor, int seq, int par, TimeSpan warmUp)
    {
        Console.Error.WriteLine($"measuring {floor.Name} ...");
        var warmUntil = DateTime.UtcNow + warmUp;
        while (DateTime.UtcNow < warmUntil)
        {
            await Scenarios.SequentialAsync(floor, 300);
            await Scenarios.ParallelAsync(floor, 16, 800);
        }

        return (await Scenarios.SequentialAsync(floor, seq), await Scenarios.ParallelAsync(floor, 16, par));
    }

    private sealed class Contender(IPingGrain ping, bool throughReplica) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName)
        {
            await Call(ping, throughReplica, 1);
            return new Second(ping, throughReplica);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class Second(IPingGrain ping, bool throughReplica) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await Call(ping, throughReplica, 2);
    }

    private static Task<long> Call(IPingGrain ping, bool throughReplica, long value) => throughReplica ? ping.PingThroughReplica(value) : ping.Ping(value);
}
