using System.Diagnostics;

namespace Coordination.Benchmarks;

/// <summary>
/// One measured run of a scenario: <see cref="Pairs"/> acquire+release pairs (the operation every figure is
/// per), each pair's latency as its worker saw it (a contended pair includes the wait for the lock), and what
/// the server side spent meanwhile.
/// </summary>
/// <param name="ClientCpu">This process's CPU time over the timed part: the system's client (and the loop's own bookkeeping, the same for every system).</param>
/// <param name="WarmUpPairs">Pairs the run made before its timed part (its own warm-up): work the servers did that no timed figure counts.</param>
internal sealed record ScenarioResult(int Pairs, TimeSpan Elapsed, double[] SortedLatenciesMs, ServerCost Cost, TimeSpan ClientCpu = default, int WarmUpPairs = 0)
{
    public double OpsPerSecond => Pairs / Elapsed.TotalSeconds;

    public TimeSpan P50 => Percentile(0.5);

    public TimeSpan P99 => Percentile(0.99);

    public TimeSpan P999 => Percentile(0.999);

    public TimeSpan CpuPerOp => Cost.Cpu / Pairs;

    public TimeSpan ClientCpuPerOp => ClientCpu / Pairs;

    public double? ClientMessagesPerOp => Cost.ClientMessages / (double)Pairs;

    public double? SiloMessagesPerOp => Cost.SiloMessages / (double)Pairs;

    private TimeSpan Percentile(double q) =>
        TimeSpan.FromMilliseconds(SortedLatenciesMs[Math.Min(SortedLatenciesMs.Length - 1, (int)(q * SortedLatenciesMs.Length))]);
}

/// <summary>
/// The three scenarios of shared/BENCHMARKS.md and a fresh name per pair, run identically against every backend. The server's cost is
/// read just before and after the timed part, so session setup and each scenario's own warm-up stay out of it.
/// </summary>
internal static class Scenarios
{
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(20);

    /// <summary>seq: one worker, acquire + release of one lock, <paramref name="pairs"/> times (after a warm-up).</summary>
    public static Task<ScenarioResult> SequentialAsync(ILockBackend backend, int pairs) => SequentialAsync(backend, $"bench/seq/{Guid.NewGuid():N}", pairs);

    /// <summary>seq on a given name: where its grain lives is where its first caller's gateway put it.</summary>
    public static async Task<ScenarioResult> SequentialAsync(ILockBackend backend, string name, int pairs)
    {
        await using var contender = await backend.NewContenderAsync();
        var warm = Math.Min(200, pairs / 10);
        await Loop(contender, name, warm);
        return await TimedAsync(backend, pairs, () => Loop(contender, name, pairs)) with { WarmUpPairs = warm };
    }

    /// <summary>
    /// fresh: one worker, acquire + release of a new name each time (<c>orders/{id}</c>, a lock per entity), as
    /// applications use a lock service; each name is used once, so what a name costs to create and retire is in it.
    /// The contender is the caller's, kept over every fresh run against the backend: an application takes its
    /// per-entity locks through one long-lived session (or connection), not a new one every few hundred names.
    /// </summary>
    public static async Task<ScenarioResult> FreshNamesAsync(ILockBackend backend, IContender contender, int pairs)
    {
        var run = Guid.NewGuid().ToString("N");
        var warm = Math.Min(200, pairs / 10);
        await LoopFresh(contender, $"bench/orders/{run}/warm", warm);
        return await TimedAsync(backend, pairs, () => LoopFresh(contender, $"bench/orders/{run}", pairs)) with { WarmUpPairs = warm };
    }

    /// <summary>par16: <paramref name="workers"/> workers, each on its own lock, <paramref name="pairs"/> pairs in all.</summary>
    public static async Task<ScenarioResult> ParallelAsync(ILockBackend backend, int workers, int pairs)
    {
        var contenders = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => backend.NewContenderAsync()));
        var each = pairs / workers;
        var run = Guid.NewGuid().ToString("N");
        var warm = Math.Min(50, each);
        await Task.WhenAll(contenders.Select((c, w) => Loop(c, $"bench/par/{run}/{w}", warm)));
        var result = await TimedAsync(backend, each * workers, async () =>
            (await Task.WhenAll(contenders.Select((c, w) => Task.Run(() => Loop(c, $"bench/par/{run}/{w}", each))))).SelectMany(l => l));
        foreach (var c in contenders)
        {
            await c.DisposeAsync();
        }

        return result with { WarmUpPairs = warm * workers };
    }

    /// <summary>contended8: <paramref name="workers"/> workers on one lock, <paramref name="pairs"/> pairs in all, with a mutual-exclusion check.</summary>
    public static async Task<ScenarioResult> ContendedAsync(ILockBackend backend, int workers, int pairs)
    {
        var contenders = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => backend.NewContenderAsync()));
        var name = $"bench/contended/{Guid.NewGuid():N}";
        var each = pairs / workers;
        var inside = 0;
        var overlaps = 0;
        var result = await TimedAsync(backend, each * workers, async () => (await Task.WhenAll(contenders.Select(c => Task.Run(async () =>
        {
            var latencies = new double[each];
            for (var i = 0; i < each; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await using (await c.AcquireAsync(name))
                {
                    if (Interlocked.Increment(ref inside) != 1)
                    {
                        Interlocked.Increment(ref overlaps);
                    }

                    Interlocked.Decrement(ref inside);
                }

                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }

            return latencies;
        })))).SelectMany(l => l));
        foreach (var c in contenders)
        {
            await c.DisposeAsync();
        }

        if (overlaps > 0)
        {
            throw new InvalidOperationException($"{backend.Name}: {overlaps} overlapping holders seen in the contended scenario.");
        }

        return result;
    }

    private static async Task<ScenarioResult> TimedAsync(ILockBackend backend, int pairs, Func<Task<IEnumerable<double>>> run)
    {
        await SettleAsync(backend);
        var before = await backend.CostAsync();
        var clientBefore = ProcessCpu.OfThisProcess();
        var total = Stopwatch.StartNew();
        var latencies = await run();
        total.Stop();
        var clientCpu = ProcessCpu.OfThisProcess() - clientBefore;
        var after = await backend.CostAsync();
        return new ScenarioResult(pairs, total.Elapsed, [.. latencies.Order()], after - before, clientCpu);
    }

    /// <summary>
    /// Waits (at most <see cref="SettleLimit"/>) until the servers spend under half a core: work left from the
    /// warm-up or the scenario before (names retiring, compaction) would otherwise be charged to the next one.
    /// </summary>
    private static async Task SettleAsync(ILockBackend backend)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < SettleLimit)
        {
            var before = await backend.CostAsync();
            var window = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            if ((await backend.CostAsync()).Cpu - before.Cpu < window.Elapsed / 2)
            {
                return;
            }
        }

        Console.Error.WriteLine($"{backend.Name}: the servers were still busy after {SettleLimit.TotalSeconds:0} s; measuring anyway");
    }

    /// <summary>Acquire + release of <paramref name="prefix"/>/0, /1, ... /count-1, once each; each pair's latency in ms.</summary>
    private static async Task<IEnumerable<double>> LoopFresh(IContender contender, string prefix, int count)
    {
        var latencies = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await (await contender.AcquireAsync($"{prefix}/{i}")).DisposeAsync();
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return latencies;
    }

    /// <summary>Acquire + release of <paramref name="name"/>, <paramref name="count"/> times; each pair's latency in ms.</summary>
    private static async Task<IEnumerable<double>> Loop(IContender contender, string name, int count)
    {
        var latencies = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await (await contender.AcquireAsync(name)).DisposeAsync();
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return latencies;
    }
}
