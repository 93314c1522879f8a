using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Coordination.Client;
using Coordination.TestKit;

namespace Coordination.Benchmarks;

/// <summary>
/// The way most applications use a lock service: one process, its one shared session, a lock per entity
/// (a new name per acquire), for a long time. Prints, every step of names, the step's throughput and
/// latency, the silos' summed resident memory and how many register slots the replicas keep; then holds
/// many locks at once, SIGKILLs a silo and times until every silo reports ready (the replacement fully
/// redundant), and checks that every held lock is still held by its holder.
/// </summary>
internal static class Longevity
{
    internal sealed record Options(long Names, long Step, int Workers, int Held, TimeSpan Ttl);

    private sealed record Step(long Names, double OpsPerSecond, double P50, double P99, double P999, long RssBytes, long Slots, int Failed);

    public static async Task<string> RunAsync(Options options, CancellationToken cancellationToken)
    {
        var report = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        await using var cluster = await LocalClusterProcess.StartAsync(testTimings: false);
        await using var client = await TestClusterClient.ConnectAsync(cluster, options.Ttl.TotalSeconds);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var run = Guid.NewGuid().ToString("N")[..8];
        report.AppendLine(ci, $"## Longevity, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Repo.Configuration} build");
        report.AppendLine();
        report.AppendLine(ci, $"One process, the client's shared session (TTL {options.Ttl.TotalSeconds:0} s), {options.Workers} workers, a new lock name per acquire+release (`longevity/{run}/<n>`).");
        report.AppendLine();
        report.AppendLine("| names so far | ops/s in step | p50 | p99 | p99.9 | silos' RSS (sum) | replica slots (sum over silos) | failed |");
        report.AppendLine("|---|---|---|---|---|---|---|---|");
        Console.Error.WriteLine(report.ToString());

        var steps = new List<Step>();
        long next = 0;
        var deadlineHit = false;
        while (next < options.Names && !cancellationToken.IsCancellationRequested)
        {
            var stepEnd = Math.Min(options.Names, next + options.Step);
            var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
            var failed = 0;
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, options.Workers).Select(_ => Task.Run(async () =>
            {
                while (true)
                {
                    var n = Interlocked.Increment(ref next) - 1;
                    if (n >= stepEnd)
                    {
                        Interlocked.Decrement(ref next);
                        return;
                    }

                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        await using var handle = await client.Coordination.CreateLock($"longevity/{run}/{n}").AcquireAsync(TimeSpan.FromSeconds(30), cancellationToken);
                    }
                    catch (Exception ex) when (ex is CoordinationException or TimeoutException)
                    {
                        Interlocked.Increment(ref failed);
                    }

                    latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }, cancellationToken)));
            watch.Stop();
            var sorted = latencies.Order().ToArray();
            var step = new Step(stepEnd, sorted.Length / watch.Elapsed.TotalSeconds, Percentile(sorted, 0.5), Percentile(sorted, 0.99), Percentile(sorted, 0.999), await RssAsync(cluster), await SlotsAsync(cluster, http), failed);
            steps.Add(step);
            var line = string.Create(ci, $"| {step.Names:N0} | {step.OpsPerSecond:N0} | {step.P50:0.00} ms | {step.P99:0.00} ms | {step.P999:0.00} ms | {step.RssBytes / (1024.0 * 1024):N0} MiB | {step.Slots:N0} | {step.Failed} |");
            report.AppendLine(line);
            Console.Error.WriteLine(line);
            if (watch.Elapsed > TimeSpan.FromMinutes(20))
            {
                deadlineHit = true;
                break;
            }
        }

        report.AppendLine();
        if (deadlineHit)
        {
            report.AppendLine("Stopped early: one step took more than 20 minutes.");
        }

        if (steps.Count >= 2)
        {
            var (first, last) = (steps[0], steps[^1]);
            report.AppendLine(ci, $"Last step against the first: throughput {last.OpsPerSecond / first.OpsPerSecond:0.00}×, p99 {last.P99 / first.P99:0.00}×, memory {(double)last.RssBytes / first.RssBytes:0.00}×, slots {(first.Slots == 0 ? "-" : ((double)last.Slots / first.Slots).ToString("0.00", ci))}×.");
        }

        if (options.Held > 0 && !cancellationToken.IsCancellationRequested)
        {
            report.AppendLine();
            report.Append(await HoldAndKillAsync(cluster, client, http, run, options.Held, options.Workers, cancellationToken));
        }

        return report.ToString();
    }

    /// <summary>Takes <paramref name="held"/> fresh locks and keeps them, SIGKILLs a silo, times until every silo is ready again, then checks every lock's holder.</summary>
    private static async Task<string> HoldAndKillAsync(LocalClusterProcess cluster, TestClusterClient client, HttpClient http, string run, int held, int workers, CancellationToken cancellationToken)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var handles = new CoordinationLockHandle[held];
        var watch = Stopwatch.StartNew();
        var taken = -1;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref taken)) < held)
            {
                handles[i] = await client.Coordination.CreateLock($"longevity/{run}/held/{i}").AcquireAsync(TimeSpan.FromSeconds(60), cancellationToken);
            }
        }, cancellationToken)));
        var holderTag = (await client.Coordination.CreateLock($"longevity/{run}/held/0").GetInfoAsync(cancellationToken)).Holder?.SessionTag;
        var rssHeld = await RssAsync(cluster);
        var slotsHeld = await SlotsAsync(cluster, http);
        sb.AppendLine(ci, $"Held {held:N0} locks in {watch.Elapsed.TotalSeconds:0.0} s: silos' RSS {rssHeld / (1024.0 * 1024):N0} MiB, {slotsHeld:N0} replica slots.");
        await cluster.WaitAllReadyAsync(TimeSpan.FromMinutes(2));

        var victim = 1;
        var pid = await cluster.PidOfAsync(victim);
        var killed = Stopwatch.StartNew();
        Signals.Send(pid, Signals.Kill);
        await Eventually.Async(async () => (await cluster.SilosAsync()).Single(s => s.Index == victim).Pid is { } p && p != pid, TimeSpan.FromMinutes(2), "the launcher restarts the killed silo");
        await cluster.WaitAllReadyAsync(TimeSpan.FromMinutes(10));
        var redundant = killed.Elapsed;
        sb.AppendLine(ci, $"SIGKILL of silo{victim} with {held:N0} locks held: every silo ready (the replacement fully redundant) after {redundant.TotalSeconds:0.0} s.");

        var tag = holderTag;
        var wrong = 0;
        var checkedCount = -1;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref checkedCount)) < held)
            {
                var info = await client.Coordination.CreateLock($"longevity/{run}/held/{i}").GetInfoAsync(cancellationToken);
                if (info.Holder is not { } h || h.SessionTag != tag || h.FencingToken != handles[i].FencingToken || h.RequestId != handles[i].RequestId)
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        }, cancellationToken)));
        sb.AppendLine(ci, $"Every held lock checked through a linearizable holder query: {held - wrong:N0} still held by their holder, {wrong:N0} not.");
        foreach (var h in handles)
        {
            await h.DisposeAsync();
        }

        return sb.ToString();
    }

    private static double Percentile(double[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))];

    internal static async Task<long> RssAsync(LocalClusterProcess cluster)
    {
        long total = 0;
        foreach (var (_, pid, _) in await cluster.SilosAsync())
        {
            if (pid is not { } p)
            {
                continue;
            }

            try
            {
                var line = (await File.ReadAllLinesAsync($"/proc/{p}/status")).FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                if (line is not null)
                {
                    total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
            catch (IOException)
            {
                // The process just went.
            }
        }

        return total;
    }

    private static async Task<long> SlotsAsync(LocalClusterProcess cluster, HttpClient http)
    {
        long total = 0;
        for (var i = 0; i < cluster.Silos; i++)
        {
            var replicas = await http.GetFromJsonAsync<JsonElement>(new Uri($"http://127.0.0.1:{cluster.HealthPortBase + i}/api/replicas"));
            total += replicas.EnumerateArray().Sum(r => r.GetProperty("registers").GetInt64());
        }

        return total;
    }
}
