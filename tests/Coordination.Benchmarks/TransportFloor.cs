using Coordination.TestKit;

namespace Coordination.Benchmarks;

/// <summary>
/// The floor under our lock calls: the same client and silos, each "pair" two no-op grain calls
/// (<see cref="IPingGrain"/>, a stateless worker answered by the gateway silo) where a lock pair makes an acquire and
/// a release. What Orleans' messaging alone costs from a client process on this machine, with no directory, no
/// replica round and no state: no design that answers a lock call through an Orleans grain call gets above it.
/// </summary>
internal sealed class TransportFloorBackend(TestClusterClient client, CoordinationBackend ours) : ILockBackend
{
    public string Name => "Orleans floor (two no-op grain calls per pair)";

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(client.Grains.GetGrain<IPingGrain>(0)));

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

    private sealed class Contender(IPingGrain ping) : IContender
    {
        public async Task<IAsyncDisposable> AcquireAsync(string lockName)
        {
            await ping.Ping(1);
            return new Second(ping);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class Second(IPingGrain ping) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await ping.Ping(2);
    }
}
