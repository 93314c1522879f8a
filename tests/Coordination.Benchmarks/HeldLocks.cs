using System.Diagnostics;
using System.Globalization;
using Coordination.Client;
using Coordination.TestKit;

namespace Coordination.Benchmarks;

/// <summary>
/// Ours with many locks held: <c>sessions</c> sessions take <c>held</c> distinct locks between them and keep them,
/// then the seq and par16 scenarios run beside them on other names. The same scenarios run on the same cluster right
/// before the take, <see cref="Rounds"/> rounds on each side (seq and par16 in turn), so the ratio compares figures a
/// minute apart on one warmed-up cluster, not with the table's from many minutes before on a machine whose pace moves;
/// seq runs untimed for <see cref="Settle"/> right after the take first (the take leaves work behind: its garbage in
/// both processes' heaps, its sessions' keepalives in step), and what it made then is reported apart. The silos'
/// memory growth is divided by the locks held.
/// </summary>
internal static class HeldLocks
{
    /// <summary>Rounds of seq and par16 on each side of the take.</summary>
    public const int Rounds = 3;

    /// <summary>Seq runs this long right after the take before the timed rounds (its rate is reported, not compared).</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    private const int Workers = 32;

    /// <summary>The figures of one run with <see cref="Held"/> locks held: each side's rounds, in the order they ran.</summary>
    internal sealed record Result(int Held, int Sessions, TimeSpan TakeTime, long RssBefore, long RssHeld, IReadOnlyList<ScenarioResult> SeqBefore, IReadOnlyList<ScenarioResult> ParBefore, IReadOnlyList<ScenarioResult> Seq, IReadOnlyList<ScenarioResult> Par16, IReadOnlyList<ScenarioResult> Settling)
    {
        /// <summary>Growth of the silos' resident memory (all silos) per held lock; includes whatever else the runtime kept meanwhile.</summary>
        public double BytesPerLock => (RssHeld - RssBefore) / (double)Held;

        /// <summary>Pairs per second over a side's rounds together.</summary>
        public static double Rate(IReadOnlyList<ScenarioResult> rounds) => rounds.Sum(r => r.Pairs) / rounds.Sum(r => r.Elapsed.TotalSeconds);
    }

    public static async Task<Result> MeasureAsync(LocalClusterProcess cluster, TestClusterClient client, ILockBackend backend, int held, int sessions, int seq, int par)
    {
        var (seqBefore, parBefore) = await RoundsAsync(backend, seq, par);
        var rssBefore = await Longevity.RssAsync(cluster);
        await using var holding = await TakeAsync(client, held, sessions);
        var rssHeld = await Longevity.RssAsync(cluster);
        var settling = new List<ScenarioResult>();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Settle)
        {
            settling.Add(await Scenarios.SequentialAsync(backend, 500));
        }

        var (seqBeside, parBeside) = await RoundsAsync(backend, seq, par);
        return new Result(held, sessions, holding.TakeTime, rssBefore, rssHeld, seqBefore, parBefore, seqBeside, parBeside, settling);
    }

    private static async Task<(List<ScenarioResult> Seq, List<ScenarioResult> Par)> RoundsAsync(ILockBackend backend, int seq, int par)
    {
        var (s, p) = (new List<ScenarioResult>(), new List<ScenarioResult>());
        for (var round = 0; round < Rounds; round++)
        {
            s.Add(await Scenarios.SequentialAsync(backend, seq));
            p.Add(await Scenarios.ParallelAsync(backend, 16, par));
        }

        return (s, p);
    }

    /// <summary><paramref name="sessions"/> new sessions of <paramref name="client"/> take <paramref name="held"/> distinct locks between them; disposing the result closes the sessions, which releases them.</summary>
    public static async Task<Holding> TakeAsync(TestClusterClient client, int held, int sessions)
    {
        // Kept until the sessions close: a handle dropped unreleased would be released by its finalizer.
        var kept = new CoordinationLockHandle[held];
        var opened = await Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => client.Coordination.OpenSessionAsync(TimeSpan.FromSeconds(30))));
        var holding = new Holding(opened, kept);
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
            holding.TakeTime = watch.Elapsed;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"holding {held:N0} locks (taken in {holding.TakeTime.TotalSeconds:0.0} s); measuring beside them ..."));
            return holding;
        }
        catch
        {
            await holding.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sessions holding locks; disposing closes them, which releases everything they hold.</summary>
    internal sealed class Holding(CoordinationSession[] sessions, CoordinationLockHandle[] kept) : IAsyncDisposable
    {
        public TimeSpan TakeTime { get; set; }

        public async ValueTask DisposeAsync()
        {
            await Task.WhenAll(sessions.Select(o => o.DisposeAsync().AsTask()));
            GC.KeepAlive(kept);
        }
    }
}
