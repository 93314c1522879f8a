using System.Diagnostics;

namespace Coordination.Benchmarks;

internal sealed record ScenarioResult(double OpsPerSecond, TimeSpan? P50 = null, TimeSpan? P99 = null);

/// <summary>The three scenarios of shared/BENCHMARKS.md, run identically against every backend.</summary>
internal static class Scenarios
{
    /// <summary>seq: one worker, acquire + release of one lock, <paramref name="pairs"/> times (after a warm-up).</summary>
    public static async Task<ScenarioResult> SequentialAsync(ILockBackend backend, int pairs)
    {
        await using var contender = await backend.NewContenderAsync();
        var name = $"bench/seq/{Guid.NewGuid():N}";
        for (var i = 0; i < Math.Min(200, pairs / 10); i++)
        {
            await (await contender.AcquireAsync(name)).DisposeAsync();
        }

        var latencies = new double[pairs];
        var total = Stopwatch.StartNew();
        for (var i = 0; i < pairs; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await (await contender.AcquireAsync(name)).DisposeAsync();
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        total.Stop();
        Array.Sort(latencies);
        return new ScenarioResult(pairs / total.Elapsed.TotalSeconds, TimeSpan.FromMilliseconds(latencies[pairs / 2]), TimeSpan.FromMilliseconds(latencies[(int)(pairs * 0.99)]));
    }

    /// <summary>par16: <paramref name="workers"/> workers, each on its own lock, <paramref name="pairs"/> pairs in all.</summary>
    public static async Task<ScenarioResult> ParallelAsync(ILockBackend backend, int workers, int pairs)
    {
        var contenders = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => backend.NewContenderAsync()));
        var each = pairs / workers;
        var run = Guid.NewGuid().ToString("N");
        await Task.WhenAll(contenders.Select((c, w) => Loop(c, $"bench/par/{run}/{w}", Math.Min(50, each))));
        var total = Stopwatch.StartNew();
        await Task.WhenAll(contenders.Select((c, w) => Task.Run(() => Loop(c, $"bench/par/{run}/{w}", each))));
        total.Stop();
        foreach (var c in contenders)
        {
            await c.DisposeAsync();
        }

        return new ScenarioResult(each * workers / total.Elapsed.TotalSeconds);
    }

    /// <summary>contended8: <paramref name="workers"/> workers on one lock, <paramref name="pairs"/> pairs in all, with a mutual-exclusion check.</summary>
    public static async Task<ScenarioResult> ContendedAsync(ILockBackend backend, int workers, int pairs)
    {
        var contenders = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => backend.NewContenderAsync()));
        var name = $"bench/contended/{Guid.NewGuid():N}";
        var each = pairs / workers;
        var inside = 0;
        var overlaps = 0;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(contenders.Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < each; i++)
            {
                await using var held = await c.AcquireAsync(name);
                if (Interlocked.Increment(ref inside) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Interlocked.Decrement(ref inside);
            }
        })));
        total.Stop();
        foreach (var c in contenders)
        {
            await c.DisposeAsync();
        }

        if (overlaps > 0)
        {
            throw new InvalidOperationException($"{backend.Name}: {overlaps} overlapping holders seen in the contended scenario.");
        }

        return new ScenarioResult(each * workers / total.Elapsed.TotalSeconds);
    }

    private static async Task Loop(IContender contender, string name, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await (await contender.AcquireAsync(name)).DisposeAsync();
        }
    }
}
