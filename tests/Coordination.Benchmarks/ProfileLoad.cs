using System.Diagnostics;
using System.Text.Json;
using Coordination.TestKit;

namespace Coordination.Benchmarks;

/// <summary>
/// Load for a profiler: the local cluster under one scenario for a while, with the silos' process ids printed so
/// <c>dotnet-trace collect -p PID</c> or <c>dotnet-counters monitor -p PID</c> can be attached; when asked, a CPU
/// trace of one silo is collected over the middle of the run (with gc-verbose, its allocations are summarised at the end). Figures to quote come from the main run, not this.
/// </summary>
internal static class ProfileLoad
{
    /// <param name="After">How long to watch the cluster once the load stops (what it still does when nobody calls it), in 5 s windows.</param>
    /// <param name="TraceSilo">The silo traced (its index): the client's gateway silo is where its lock grains live, the one that shows acquire and release times at the end; -1 picks the silo that timed the most acquires in the warm-up.</param>
    /// <param name="Held">With more than 0, cycles instead of one timed part: rounds on the empty cluster, this many locks taken by 100 sessions, rounds beside them, the sessions closed (<see cref="HeldAlternatingAsync"/>).</param>
    /// <param name="Tls">The cluster with <c>Coordination:Host:Tls</c> (test certificates made for the run) and the client through TLS gateways: what TLS costs, against runs without.</param>
    public sealed record Options(string Scenario, TimeSpan Duration, TimeSpan WarmUp, string? TraceFile, string TraceProfile, TimeSpan After, int TraceSilo = 0, int Held = 0, bool Tls = false);

    /// <summary>The scenarios <see cref="RoundAsync"/> knows; the command line accepts only these.</summary>
    public static readonly string[] ScenarioNames = ["seq", "fresh", "par16", "cont8", "seq-hop", "floor", "floor-replica", "floor-par16", "floor-replica-par16"];

    public static async Task<string> RunAsync(Options options, CancellationToken cancellationToken)
    {
        if (options.Held > 0 && (options.TraceFile is not null || options.Scenario == "seq-hop"))
        {
            throw new ArgumentException("--held runs its own cycles (empty, held, released): it takes no --trace or seq-hop.", nameof(options));
        }

        using var certificates = options.Tls ? TestCertificates.Create() : null;
        string[] tls = certificates is null ? [] :
        [
            $"--Coordination:Host:Tls:CertificatePath={certificates.Silo.Certificate}",
            $"--Coordination:Host:Tls:KeyPath={certificates.Silo.Key}",
            $"--Coordination:Host:Tls:TrustedCaPath={certificates.AuthorityPath}",
        ];
        await using var cluster = await LocalClusterProcess.StartAsync(testTimings: false, tls);
        if (options.Scenario == "seq-hop")
        {
            return certificates is null ? await HopAsync(cluster, options, cancellationToken) : throw new ArgumentException("seq-hop does not run with --tls.", nameof(options));
        }

        await using var client = await TestClusterClient.ConnectAsync(cluster, ttlSeconds: 15, certificates is null ? null : ClusterTls.Load(certificates.Options(certificates.Client), silo: false));
        await using var ours = new CoordinationBackend(client, cluster);
        var silos = await cluster.SilosAsync();
        Console.Error.WriteLine($"silo pids: {string.Join(", ", silos.Select(s => $"{s.Index}={s.Pid}"))}");
        await using var entities = await ours.NewContenderAsync();
        ILockBackend backend = options.Scenario.StartsWith("floor", StringComparison.Ordinal) ? new TransportFloorBackend(client, ours, throughReplica: options.Scenario.StartsWith("floor-replica", StringComparison.Ordinal)) : ours;
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < options.WarmUp)
        {
            await RoundAsync(backend, entities, options.Scenario);
        }

        if (options.Held > 0)
        {
            try
            {
                var result = await HeldAlternatingAsync(client, backend, entities, options, () => AfterwardsAsync(ours, silos, options.After, cancellationToken), cancellationToken);
                // What the silos did besides the load: their sweeps of leftovers, deaths and restarts.
                Console.Error.WriteLine(string.Join("\n", cluster.Launcher.Lines("Leftovers|A silo died|dead|exited|restart")));
                return result;
            }
            catch
            {
                Console.Error.WriteLine($"the launcher's last lines:\n{cluster.Launcher.Tail(60)}");
                throw;
            }
        }

        Process? trace = null;
        if (options.TraceFile is { } file)
        {
            var traced = options.TraceSilo >= 0 ? options.TraceSilo : await BusiestAsync(ours, silos);
            options = options with { TraceSilo = traced };
            var pid = silos.FirstOrDefault(s => s.Index == options.TraceSilo).Pid ?? throw new ArgumentException($"--trace-silo {options.TraceSilo}: no such silo running (pids: {string.Join(", ", silos.Select(s => $"{s.Index}={s.Pid}"))})");
            var tools = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools", "dotnet-trace");
            trace = Process.Start(new ProcessStartInfo(File.Exists(tools) ? tools : "dotnet-trace")
            {
                ArgumentList = { "collect", "-p", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--profile", options.TraceProfile, "--duration", TimeSpan.FromSeconds(Math.Max(5, options.Duration.TotalSeconds - 4)).ToString(@"dd\:hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture), "-o", file },
                RedirectStandardOutput = true,
                RedirectStandardInput = true,
            });
        }

        // The silos' own latency histograms start over here, so the breakdown printed at the end leaves the warm-up out.
        await ours.ResetMetricsAsync(cancellationToken);

        // Each round's own timed part counts (its settling pause before does not).
        var watch = Stopwatch.StartNew();
        var clientCpu = TimeSpan.Zero;
        // The client's hand-offs: thread-pool work items and allocations of this process (the client), over every pair made.
        var (workItems, clientAllocated) = (ThreadPool.CompletedWorkItemCount, GC.GetTotalAllocatedBytes());
        var (pairs, warmUpPairs, elapsed, cpu, siloMessages, clientMessages, allocated) = (0, 0, TimeSpan.Zero, TimeSpan.Zero, 0L, 0L, 0L);
        while (watch.Elapsed < options.Duration && !cancellationToken.IsCancellationRequested)
        {
            var round = await RoundAsync(backend, entities, options.Scenario);
            Console.Error.WriteLine(Line(string.Empty, watch.Elapsed, round));
            (pairs, warmUpPairs, elapsed, cpu, clientCpu) = (pairs + round.Pairs, warmUpPairs + round.WarmUpPairs, elapsed + round.Elapsed, cpu + round.Cost.Cpu, clientCpu + round.ClientCpu);
            (siloMessages, clientMessages, allocated) = (siloMessages + (round.Cost.SiloMessages ?? 0), clientMessages + (round.Cost.ClientMessages ?? 0), allocated + (round.Cost.AllocatedBytes ?? 0));
        }

        (workItems, clientAllocated) = (ThreadPool.CompletedWorkItemCount - workItems, GC.GetTotalAllocatedBytes() - clientAllocated);
        if (trace is not null)
        {
            await trace.WaitForExitAsync(cancellationToken);
            if (options.TraceProfile == "gc-verbose")
            {
                Console.Error.WriteLine($"silo{options.TraceSilo}'s allocations over the trace: " + AllocationReport.Summarize(options.TraceFile!, 25));
            }
        }

        foreach (var (index, _, _) in silos)
        {
            Console.Error.WriteLine(ServerSide(index, await ours.MetricsAsync(index)));
        }

        var rounds = await RoundsAsync(ours, silos);

        // Rounds since the warm-up, settling pauses included (names retiring after their round), per pair made since: the
        // timed parts' and each round's own warm-up (a par16 round warms each of its 16 new sessions with 50 pairs; counted
        // per timed pair only, its two accepts per pair read as three).
        var made = pairs + warmUpPairs;
        Console.Error.WriteLine($"replica rounds per pair ({made} pairs made, {pairs} of them timed): {string.Join("; ", rounds.Select(r => $"{r.Key} {r.Value / made:0.00}"))}");

        var summary = $"{options.Scenario}: {pairs} pairs in {elapsed.TotalSeconds:0.0} s = {pairs / elapsed.TotalSeconds:0} ops/s; " +
            $"server CPU {cpu.TotalMilliseconds / pairs:0.00} ms/op; client process CPU {clientCpu.TotalMilliseconds / pairs:0.00} ms/op; silo messages {siloMessages / (double)pairs:0.0}/op; client messages {clientMessages / (double)pairs:0.0}/op; " +
            $"silos allocated {allocated / 1024.0 / pairs:0.0} KiB/op; client thread-pool work items {workItems / (double)made:0.0}/op, allocated {clientAllocated / 1024.0 / made:0.0} KiB/op (every pair made)";
        await AfterwardsAsync(ours, silos, options.After, cancellationToken);
        return summary;
    }

    /// <summary>
    /// What holding <see cref="Options.Held"/> locks costs the scenario: cycles of <see cref="Options.Duration"/> of rounds on
    /// the empty cluster, the take by 100 sessions, as long beside the held locks, and their release (the sessions
    /// closed), three times on one cluster, so both sides see the same machine; <paramref name="idle"/> watches the
    /// cluster left alone with the locks still held, at the end of the last cycle.
    /// </summary>
    private static async Task<string> HeldAlternatingAsync(TestClusterClient client, ILockBackend backend, IContender entities, Options options, Func<Task> idle, CancellationToken cancellationToken)
    {
        async Task<List<ScenarioResult>> PhaseAsync(string label)
        {
            var results = new List<ScenarioResult>();
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < options.Duration && !cancellationToken.IsCancellationRequested)
            {
                var round = await RoundAsync(backend, entities, options.Scenario);
                Console.Error.WriteLine(Line($"{label} ", watch.Elapsed, round));
                results.Add(round);
            }

            return results;
        }

        static double Cpu(List<ScenarioResult> r) => r.Sum(x => x.Cost.Cpu.TotalMilliseconds) / r.Sum(x => x.Pairs);
        var cycles = new List<string>();
        for (var cycle = 1; cycle <= 3 && !cancellationToken.IsCancellationRequested; cycle++)
        {
            var empty = await PhaseAsync($"cycle {cycle} empty");
            List<ScenarioResult> held;
            await using (await HeldLocks.TakeAsync(client, options.Held, sessions: 100))
            {
                held = await PhaseAsync($"cycle {cycle} held");
                if (cycle == 3)
                {
                    await idle();
                }
            }

            cycles.Add($"cycle {cycle}: empty {HeldLocks.Result.Rate(empty):0} ops/s ({Cpu(empty):0.00} ms CPU/op), beside {options.Held:N0} held {HeldLocks.Result.Rate(held):0} ops/s ({Cpu(held):0.00} ms CPU/op): {HeldLocks.Result.Rate(held) / HeldLocks.Result.Rate(empty):0.00}×");
        }

        return $"{options.Scenario}, {options.Duration.TotalSeconds:0} s a side:\n" + string.Join("\n", cycles);
    }

    /// <summary>The cluster left alone after the load: its silos' CPU, silo-to-silo messages and replica rounds, per second, window by window.</summary>
    private static async Task AfterwardsAsync(CoordinationBackend ours, IReadOnlyList<(int Index, int? Pid, int Restarts)> silos, TimeSpan after, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var (cost, rounds, at) = (await ours.CostAsync(), await RoundsAsync(ours, silos), watch.Elapsed);
        while (watch.Elapsed < after && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            var (nextCost, nextRounds, now) = (await ours.CostAsync(), await RoundsAsync(ours, silos), watch.Elapsed);
            var seconds = (now - at).TotalSeconds;
            var delta = nextCost - cost;
            var busy = nextRounds.Select(r => (r.Key, PerSecond: (r.Value - rounds.GetValueOrDefault(r.Key)) / seconds)).Where(r => r.PerSecond > 0);
            Console.Error.WriteLine($"after {now.TotalSeconds,3:0} s: CPU {delta.Cpu.TotalSeconds / seconds * 100:0.0} % of a core, silo messages {delta.SiloMessages / seconds:0}/s, rounds/s: {string.Join("; ", busy.Select(r => $"{r.Key} {r.PerSecond:0.0}"))}");
            (cost, rounds, at) = (nextCost, nextRounds, now);
        }
    }

    /// <summary>
    /// What a call that reaches a lock's grain through another silo's gateway costs: two clients, each with one gateway
    /// (silo 0's, silo 1's), take turns at seq rounds on one name whose grain the first placed on silo 0, so every call
    /// of the second is forwarded one silo-to-silo hop. Rounds alternate, so both sides see the same machine.
    /// </summary>
    private static async Task<string> HopAsync(LocalClusterProcess cluster, Options options, CancellationToken cancellationToken)
    {
        var ports = cluster.GatewayPorts;
        await using var nearClient = await TestClusterClient.ConnectAsync(cluster.ClusterId, [ports[0]], ttlSeconds: 15);
        await using var farClient = await TestClusterClient.ConnectAsync(cluster.ClusterId, [ports[1]], ttlSeconds: 15);
        await using var near = new CoordinationBackend(nearClient, cluster);
        await using var far = new CoordinationBackend(farClient, cluster);
        var name = $"bench/hop/{Guid.NewGuid():N}";
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < options.WarmUp)
        {
            await Scenarios.SequentialAsync(near, name, 500);
            await Scenarios.SequentialAsync(far, name, 500);
        }

        var rounds = new Dictionary<string, List<ScenarioResult>> { ["near"] = [], ["far"] = [] };
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < options.Duration && !cancellationToken.IsCancellationRequested)
        {
            rounds["near"].Add(await Scenarios.SequentialAsync(near, name, 500));
            rounds["far"].Add(await Scenarios.SequentialAsync(far, name, 500));
        }

        return string.Join("\n", rounds.Select(side =>
        {
            var (r, pairs) = (side.Value, side.Value.Sum(x => x.Pairs));
            return $"seq-hop {side.Key}: {pairs} pairs = {pairs / r.Sum(x => x.Elapsed.TotalSeconds):0} ops/s; " +
                $"p50 of the rounds' p50s {r.Select(x => x.P50.TotalMilliseconds).Order().ElementAt(r.Count / 2):0.000} ms; " +
                $"server CPU {r.Sum(x => x.Cost.Cpu.TotalMilliseconds) / pairs:0.00} ms/op; silo messages {r.Sum(x => x.Cost.SiloMessages ?? 0) / (double)pairs:0.0}/op";
        }));
    }

    /// <summary>One round's line as the load goes.</summary>
    private static string Line(string label, TimeSpan at, ScenarioResult round) =>
        $"{label}{at.TotalSeconds,5:0} s: {round.OpsPerSecond,6:0} ops/s, server CPU {round.CpuPerOp.TotalMilliseconds:0.00} ms/op, p99 {round.P99.TotalMilliseconds:0.00} ms";

    /// <summary>The silo whose lock grains timed the most acquires so far: where the client's gateway put them.</summary>
    private static async Task<int> BusiestAsync(CoordinationBackend ours, IReadOnlyList<(int Index, int? Pid, int Restarts)> silos)
    {
        var (busiest, most) = (silos[0].Index, -1L);
        foreach (var (index, _, _) in silos)
        {
            var metrics = await ours.MetricsAsync(index);
            var count = metrics.TryGetProperty("coordination.lock.acquire.duration", out var h) && h.TryGetProperty("count", out var n) ? n.GetInt64() : 0;
            if (count > most)
            {
                (busiest, most) = (index, count);
            }
        }

        Console.Error.WriteLine($"tracing silo{busiest} ({most} acquires timed in the warm-up)");
        return busiest;
    }

    /// <summary>Every silo's replica rounds so far, summed by tags (phase, register kind, outcome), with its registers forgotten and those of them the collector dropped.</summary>
    private static async Task<SortedDictionary<string, double>> RoundsAsync(CoordinationBackend ours, IReadOnlyList<(int Index, int? Pid, int Restarts)> silos)
    {
        var rounds = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var (index, _, _) in silos)
        {
            var metrics = await ours.MetricsAsync(index, percentiles: false);
            foreach (var series in metrics.EnumerateObject().Where(s => s.Name.StartsWith(RoundsSeries, StringComparison.Ordinal)))
            {
                var tags = series.Name[RoundsSeries.Length..^1];
                rounds[tags] = rounds.GetValueOrDefault(tags) + series.Value.GetProperty("total").GetDouble();
            }

            // Deleted registers dropped everywhere, and those of them the replicas' collector had to drop (their writer could not).
            foreach (var (series, label) in new[] { ("coordination.register.forgotten", "forgotten"), ("coordination.register.tombstones.collected", "of them collected") })
            {
                if (metrics.TryGetProperty(series, out var counter))
                {
                    rounds[label] = rounds.GetValueOrDefault(label) + counter.GetProperty("total").GetDouble();
                }
            }
        }

        return rounds;
    }

    private const string RoundsSeries = "coordination.register.rounds[";

    private const string RoundDurationSeries = "coordination.register.round.duration[";

    /// <summary>
    /// Where a pair's time goes inside the silos (since the warm-up, settling pauses included): each call as the lock grain
    /// timed it, and the replica rounds under them (by phase and register kind); what a client saw beyond that is its hops to the gateway and back.
    /// </summary>
    private static string ServerSide(int silo, JsonElement metrics)
    {
        string Of(string series) => metrics.TryGetProperty(series, out var h) && h.TryGetProperty("count", out var n) && n.GetInt64() > 0
            ? $"p50 {h.GetProperty("p50").GetDouble():0.000} / p99 {h.GetProperty("p99").GetDouble():0.000} ms ({n.GetInt64()})"
            : "none";
        var byTags = metrics.EnumerateObject().Where(s => s.Name.StartsWith(RoundDurationSeries, StringComparison.Ordinal) && s.Name.Contains("outcome=majority", StringComparison.Ordinal))
            .Select(s => $"{s.Name[RoundDurationSeries.Length..^1].Replace("outcome=majority,", string.Empty, StringComparison.Ordinal)} {Of(s.Name)}");
        return $"silo{silo}: acquire {Of("coordination.lock.acquire.duration")}; release {Of("coordination.lock.release.duration")}; " +
            $"replica round {Of("coordination.register.round.duration")}; {Gc(metrics)}" + string.Concat(byTags.Select(t => $"\n  round {t}"));
    }

    /// <summary>The silo's collections and the time its threads were paused for them, since the warm-up.</summary>
    private static string Gc(JsonElement metrics) => metrics.TryGetProperty("runtime.gc", out var gc)
        ? $"GC {gc.GetProperty("gen0").GetInt32()} / {gc.GetProperty("gen1").GetInt32()} / {gc.GetProperty("gen2").GetInt32()} collections (gen 0/1/2), paused {gc.GetProperty("pauseMs").GetDouble():0} ms"
        : "GC unknown";

    private static Task<ScenarioResult> RoundAsync(ILockBackend backend, IContender entities, string scenario) => scenario switch
    {
        "seq" or "floor" or "floor-replica" => Scenarios.SequentialAsync(backend, 500),
        "fresh" => Scenarios.FreshNamesAsync(backend, entities, 500),
        "par16" or "floor-par16" or "floor-replica-par16" => Scenarios.ParallelAsync(backend, 16, 1600),
        "cont8" => Scenarios.ContendedAsync(backend, 8, 400),
        _ => throw new ArgumentException($"unknown scenario '{scenario}' ({string.Join(", ", ScenarioNames)})", nameof(scenario)),
    };
}
