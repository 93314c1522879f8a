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

    public Task<IContender> NewContenderAsync() => Task.FromResult<IContender>(new Contender(client.Grains.GetGrain<IPingGrain>(0), throughReplica));

    /// <summary>Our silos' cost, read the same way as for the locks.</summary>
    public Task<ServerCost> CostAsync() => ours.CostAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// seq and par16 only (a no-op excludes nobody, so contended8 would mean nothing, and fresh is seq for it), in
    /// <paramref name="rounds"/> rounds that each run the transport floor, the floor through a replica and our lock in
    /// turn (the order reversed every other round), so a ratio of ours to a floor compares runs seconds apart, not
    /// minutes: this machine moves by a third within minutes.
    /// </summary>
    public static async Task<FloorComparison> CompareAsync(TestClusterClient client, CoordinationBackend ours, int seq, int par, int rounds, TimeSpan warmUp)
    {
        ILockBackend[] systems = [new TransportFloorBackend(client, ours, throughReplica: false), new TransportFloorBackend(client, ours, throughReplica: true), ours];
        Console.Error.WriteLine("measuring the floors beside our lock ...");
        var warmUntil = DateTime.UtcNow + warmUp;
        while (DateTime.UtcNow < warmUntil)
        {
            foreach (var floor in systems.Take(2))
            {
                await Scenarios.SequentialAsync(floor, 300);
                await Scenarios.ParallelAsync(floor, 16, 800);
            }
        }

        var (seqRounds, parRounds) = (new List<FloorRound>(), new List<FloorRound>());
        for (var round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? [0, 1, 2] : new[] { 2, 1, 0 };
            var (seqs, pars) = (new ScenarioResult[3], new ScenarioResult[3]);
            foreach (var i in order)
            {
                seqs[i] = await Scenarios.SequentialAsync(systems[i], seq);
                pars[i] = await Scenarios.ParallelAsync(systems[i], 16, par);
            }

            seqRounds.Add(new FloorRound(seqs[0], seqs[1], seqs[2]));
            parRounds.Add(new FloorRound(pars[0], pars[1], pars[2]));
        }

        return new FloorComparison(seqRounds, parRounds);
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

/// <summary>One round of a scenario: the transport floor, the floor through a replica and our lock, seconds apart.</summary>
internal sealed record FloorRound(ScenarioResult Transport, ScenarioResult Replica, ScenarioResult Ours);

/// <summary>The floors' rounds of seq and of par16.</summary>
internal sealed record FloorComparison(IReadOnlyList<FloorRound> Seq, IReadOnlyList<FloorRound> Par16);
