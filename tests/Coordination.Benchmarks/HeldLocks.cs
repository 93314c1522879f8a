using System.Diagnostics;
using System.Globalization;
using Coordination.Client;
using Coordination.TestKit;

namespace Coordination.Benchmarks;

/// <summary>
/// Ours with many locks held: <c>sessions</c> sessions take <c>held</c> distinct locks between them and keep them,
/// then the seq and par16 scenarios run beside them on other names. Their throughput is compared with the
/// same scenarios on the empty cluster earlier in the run, and the silos' memory growth is divided by the locks held.
/// </summary>
internal static class HeldLocks
{
    private const int Workers = 32;

    /// <summary>The figures of one run with <see cref="Held"/> locks held.</summary>
    internal sealed record Result(int Held, int Sessions, TimeSpan TakeTime, long RssBefore, long RssHeld, ScenarioResult Seq, ScenarioResult Par16)
    {
        /// <summary>Growth of the silos' resident memory (all silos) per held lock; includes whatever else the runtime kept meanwhile.</summary>
        public double BytesPerLock => (RssHeld - RssBefore) / (double)Held;
    }

    public static async Task<Result> MeasureAsync(LocalClusterProcess cluster, TestClusterClient client, ILockBackend backend, int held, int sessions, int seq, int par)
    {
        var rssBefore = await Longevity.RssAsync(cluster);
        // Kept until the sessions close: a handle dropped unreleased would be released by its finalizer.
        var kept = new CoordinationLockHandle[held];
        var opened = await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => client.Coordination.OpenSessionAsync(TimeSpan.FromSeconds(30))));
        try
        {
            var run = Guid.NewGuid().ToString("N");
            var watch = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < held)
                {
                    kept[i] = await opened[i % sessions].CreateLock($"bench/held/{run}/{i}").AcquireAsync(TimeSpan.FromSeconds(60));
                }
            })));
            var took = watch.Elapsed;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"holding {held:N0} locks (taken in {took.TotalSeconds:0.0} s); measuring beside them ..."));
            var rssHeld = await Longevity.RssAsync(cluster);
            var s = await Scenarios.SequentialAsync(backend, seq);
            var p = await Scenarios.ParallelAsync(backend, 16, par);
            return new Result(held, sessions, took, rssBefore, rssHeld, s, p);
        }
        finally
        {
            // Closing a session releases everything it holds.
            await Task.WhenAll(opened.Select(o => o.DisposeAsync().AsTask()));
            GC.KeepAlive(kept);
        }
    }
}
