using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Coordination.Client;

namespace Coordination.TestKit.Faults;

/// <summary>What one fault-suite run does. Everything random comes from <see cref="Seed"/>.</summary>
public sealed record FaultRunOptions
{
    public int Seed { get; init; } = Environment.TickCount;

    /// <summary>How long faults are injected while the workload runs (longer while a listed kind has not run yet: see <see cref="CoverageAllowance"/>).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How much longer than <see cref="Duration"/> a run may go on so that every kind in <see cref="Faults"/> is injected at least once (see <see cref="FaultSchedule"/>).</summary>
    public TimeSpan CoverageAllowance { get; init; } = TimeSpan.FromMinutes(2);

    public IReadOnlyList<FaultKind> Faults { get; init; } = [.. Enum.GetValues<FaultKind>().Where(f => f != FaultKind.PartitionRing)];

    public int Silos { get; init; } = 3;

    /// <summary>Client processes; client0 reaches only silo 0's gateway when <see cref="FaultKind.ClientMinority"/> is among the faults.</summary>
    public int Clients { get; init; } = 4;

    public int Keys { get; init; } = 3;

    /// <summary>
    /// Besides the hot keys, the workers lock names of the moment (two picks in five), each busy for about two
    /// seconds and then idle, so its registers are deleted and created again, some under faults; now and then a
    /// worker takes an old name again, whose new grants must carry higher tokens than its earlier ones.
    /// </summary>
    public bool FreshNames { get; init; } = true;

    /// <summary>Elections besides the locks: their leaders write the fenced resource with their term as the token, and the same checkers judge them.</summary>
    public int Elections { get; init; }

    /// <summary>
    /// A semaphore of this many permits and a reader-writer lock besides the locks (0: neither), in a second loop of
    /// each worker process, under the same faults: permit holders do the lock-set step on the fenced resource of a slot,
    /// writers on the lock's own; judged by <see cref="SemaphoreChecker"/>, <see cref="ReaderWriterChecker"/> and the lock-set checker.
    /// </summary>
    public int SemaphorePermits { get; init; } = 2;

    /// <summary>Lock-set (read, pause, write to the fenced resource under the lock) or raw acquire/release.</summary>
    public bool LockSet { get; init; } = true;

    /// <summary>The clients' session TTL (the test cluster's failure detection allows 6 s).</summary>
    public double TtlSeconds { get; init; } = LocalClusterProcess.TtlSeconds;

    /// <summary>A deliberately broken variant (<c>Coordination:Host:Unsafe</c>), for a control run the checkers must fail.</summary>
    public string? Unsafe { get; init; }

    /// <summary>Time allowed to the linearizability search per key; running out counts as a violation.</summary>
    public TimeSpan LinearizabilityBudget { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where the history (JSON) and report (markdown) go; a new temporary directory when null.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Progress lines (faults as they start).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// One run of the fault suite against real processes, as Jepsen runs one test: a local cluster with fault
/// injection on, client processes running the workload, a nemesis injecting seeded random faults, then heal,
/// a final read, and every checker over the recorded history. Replay a run with its seed (printed in the report).
/// </summary>
public static partial class FaultRun
{
    /// <summary>Process ids of client c are c · ProcessesPerClient + its generation (a new one after every operation of unknown outcome).</summary>
    public const int ProcessesPerClient = 100_000;

    /// <summary>Process ids of the in-process sentinel and final-read client.</summary>
    public const int SentinelProcess = 90_000_000;

    public static async Task<FaultReport> RunAsync(FaultRunOptions o)
    {
        var random = new Random(o.Seed);
        var output = o.OutputDirectory ?? Directory.CreateTempSubdirectory("coord-faults-").FullName;
        Directory.CreateDirectory(output);
        var log = o.Log ?? (_ => { });
        log($"fault run seed {o.Seed}: {o.Duration} of {string.Join(", ", o.Faults)} on {o.Silos} silos, {o.Clients} clients{(o.Unsafe is null ? string.Empty : $", BROKEN ON PURPOSE: {o.Unsafe}")}");
        string[] args =
        [
            "--Coordination:Host:FaultInjection=true",
            $"--Coordination:Host:Silos={o.Silos}",
            "--Coordination:Host:RestartDelay=00:00:01",
            .. o.Unsafe is null ? Array.Empty<string>() : [$"--Coordination:Host:Unsafe={o.Unsafe}"],
        ];
        await using var cluster = await LocalClusterProcess.StartAsync(args);
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
        var resources = Path.Combine(output, "resources");
        Directory.CreateDirectory(resources);
        var locks = Enumerable.Range(0, o.Keys).Select(i => $"faults/{o.Seed}/k{i}").ToArray();
        var keys = locks.Concat(Enumerable.Range(0, o.Elections).Select(i => $"e:faults/{o.Seed}/e{i}")).ToArray();
        var freshPrefix = $"faults/{o.Seed}/fresh";
        var shared = SharedKeys.Of(o);
        var sentinels = new[] { $"faults/{o.Seed}/sentinel0", $"faults/{o.Seed}/sentinel1" };
        var recorder = new HistoryRecorder();

        // Sentinel grants, held by an in-process client with a long TTL through every fault: acknowledged, so they must survive.
        await using var observer = await TestClusterClient.ConnectAsync(cluster, ttlSeconds: 120);
        var sentinelSession = await observer.Coordination.OpenSessionAsync();
        var sentinelHandles = new List<CoordinationLockHandle>();
        for (var i = 0; i < sentinels.Length; i++)
        {
            var op = recorder.Invoke(SentinelProcess + i, "acquire", sentinels[i]);
            var handle = await sentinelSession.CreateLock(sentinels[i]).AcquireAsync(TimeSpan.FromSeconds(30));
            op.Ok(handle.FencingToken);
            var (process, key, token) = (SentinelProcess + i, sentinels[i], handle.FencingToken);
            handle.HandleLostToken.Register(() => recorder.Record(process, "lost", key, token, null));
            sentinelHandles.Add(handle);
        }

        var pinned = o.Faults.Contains(FaultKind.ClientMinority);
        var clients = new List<ChildProcess>();
        try
        {
            for (var c = 0; c < o.Clients; c++)
            {
                var gateways = c == 0 && pinned
                    ? cluster.GatewayPortBase.ToString(CultureInfo.InvariantCulture)
                    : $"local:{cluster.GatewayPortBase}:{cluster.HealthPortBase}:{cluster.Silos}";
                clients.Add(ChildProcess.Start($"client{c}", Repo.TestClientDll, [cluster.ClusterId, gateways, string.Join(',', [.. keys, .. shared.All]), o.TtlSeconds.ToString(CultureInfo.InvariantCulture), "worker", c.ToString(CultureInfo.InvariantCulture), resources, (o.Seed + (31 * c)).ToString(CultureInfo.InvariantCulture), o.LockSet ? "set" : "raw", .. o.FreshNames ? [freshPrefix] : Array.Empty<string>()], redirectInput: true));
            }

            foreach (var client in clients)
            {
                await client.WaitForLineAsync("WORKER-READY", TimeSpan.FromSeconds(60));
            }

            var nemesis = new Nemesis(cluster, clients, pinnedSilo: 0, o.TtlSeconds, random);
            var faults = new List<FaultEvent>();
            var recoveryFailures = new List<string>();
            var clock = Stopwatch.StartNew();
            var schedule = new FaultSchedule(o.Faults, o.Duration, o.CoverageAllowance, random);
            using var cancel = new CancellationTokenSource(o.Duration + o.CoverageAllowance + TimeSpan.FromMinutes(2));
            try
            {
                while (schedule.Continues(clock.Elapsed))
                {
                    // A quiet spell of workload between faults, then the next fault.
                    await Task.Delay(TimeSpan.FromSeconds(1 + (random.NextDouble() * 2)), cancel.Token);
                    var kind = schedule.Next();
                    FaultEvent fault;
                    try
                    {
                        fault = await nemesis.InjectAsync(kind, cancel.Token);
                    }
                    catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
                    {
                        // A silo that would not leave: the run stops here, and the report says so.
                        recoveryFailures.Add($"during {kind}: {ex.Message}");
                        break;
                    }

                    faults.Add(fault);
                    schedule.Injected(fault.Kind);
                    log($"{clock.Elapsed:mm\\:ss} {fault.Kind} {fault.Target} ({Stopwatch.GetElapsedTime(fault.Started, fault.Healed).TotalSeconds:0.0} s)");
                    try
                    {
                        // Settled, not just ready: one fault at a time is what three replicas tolerate.
                        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(90), settle: TimeSpan.FromSeconds(3));
                    }
                    catch (TimeoutException ex)
                    {
                        recoveryFailures.Add($"after {fault.Kind} {fault.Target}: {ex.Message}\nlauncher:\n{cluster.Launcher.Tail(60)}");
                        break;
                    }
                }
            }
            finally
            {
                await nemesis.HealAllAsync();
            }

            if (schedule.NotYetInjected.Count > 0)
            {
                log($"{clock.Elapsed:mm\\:ss} the run ended before these listed kinds were injected: {string.Join(", ", schedule.NotYetInjected)}");
            }

            try
            {
                await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
            }
            catch (TimeoutException ex)
            {
                // Not recovered after the heal: a failure of the run, reported with the rest of the checks.
                recoveryFailures.Add($"after the heal: {ex.Message}\nlauncher:\n{cluster.Launcher.Tail(60)}");
            }

            // Healed: the sentinels must still be held by the grants acknowledged before all the faults.
            var held = new Dictionary<string, long?>();
            foreach (var key in sentinels)
            {
                held[key] = await HolderAfterHealAsync(observer, key, cluster, recoveryFailures, log);
            }

            foreach (var client in clients)
            {
                if (client.HasExited)
                {
                    recoveryFailures.Add($"{client.Name} exited during the run:\n{client.Tail(30)}");
                    continue;
                }

                await client.WriteLineAsync("stop");
            }

            foreach (var client in clients)
            {
                await client.WaitForExitAsync(TimeSpan.FromSeconds(60));
            }

            // Healed and quiet: a new session's acquire of each key must get a token above every acknowledged one.
            var fresh = new Dictionary<string, long>();
            try
            {
                await using var finalSession = await observer.Coordination.OpenSessionAsync();
                for (var i = 0; i < locks.Length; i++)
                {
                    var op = recorder.Invoke(SentinelProcess + 10 + i, "acquire", locks[i]);
                    await using var handle = await finalSession.CreateLock(locks[i]).AcquireAsync(TimeSpan.FromSeconds(60));
                    op.Ok(handle.FencingToken);
                    fresh[locks[i]] = handle.FencingToken;
                    recorder.Invoke(SentinelProcess + 10 + i, "release", locks[i], handle.FencingToken).Ok();
                }
            }
            catch (Exception ex) when (ex is CoordinationException or TimeoutException)
            {
                recoveryFailures.Add($"an acquire after the heal failed: {ex.GetType().Name}: {ex.Message}");
            }

            recoveryFailures.AddRange(clients.SelectMany(c => c.Lines("^UNTYPED ").Select(l => $"{c.Name} got an error that is not one of ours: {l["UNTYPED ".Length..]}")));
            var history = Merge(recorder.Snapshot(), clients, faults);
            var freshKeys = history.Ops.Select(op => op.Key).Where(k => k.StartsWith(freshPrefix + "/", StringComparison.Ordinal)).Distinct().Order(StringComparer.Ordinal).ToList();
            keys = [.. keys, .. freshKeys];
            log($"{freshKeys.Count} fresh names used besides the {keys.Length - freshKeys.Count} hot keys");
            var finalItems = keys.Concat(shared.Resources).ToDictionary(k => k, k => FencedState(Path.Combine(resources, Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(k)) + ".json")));
            var report = FaultReport.Build(o, history, faults, keys, shared, sentinels, held, fresh, finalItems, recoveryFailures, output);
            await File.WriteAllTextAsync(Path.Combine(output, "history.json"), history.ToJson());
            await File.WriteAllTextAsync(Path.Combine(output, "report.md"), report.ToMarkdown());

            // Every silo's log as the launcher relayed it, for a failure's post-mortem.
            await File.WriteAllTextAsync(Path.Combine(output, "launcher.log"), cluster.Launcher.Output);
            try
            {
                foreach (var handle in sentinelHandles)
                {
                    await handle.DisposeAsync();
                }

                await sentinelSession.CloseAsync();
            }
            catch (CoordinationException)
            {
                // The cluster is torn down next; what the checks needed is recorded.
            }

            return report;
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The sentinel's holder, read through a majority once the cluster is ready again: an answer must come within the
    /// client's retry budget. One that does not is a recovery failure, and the query goes on for up to a minute more,
    /// so the report tells a slow recovery (with how long it took and the holder then read) from a stuck one.
    /// </summary>
    private static async Task<long?> HolderAfterHealAsync(TestClusterClient observer, string key, LocalClusterProcess cluster, List<string> recoveryFailures, Action<string> log)
    {
        var started = Stopwatch.GetTimestamp();
        CoordinationException? first = null;
        while (true)
        {
            try
            {
                var holder = (await observer.Coordination.CreateLock(key).GetInfoAsync()).Holder?.FencingToken;
                log($"{key}: holder read after the heal in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.00} s");
                if (first is not null)
                {
                    recoveryFailures.Add($"{key}: the holder query failed after the heal ({Describe(first)}) and answered only {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s after it began (holder token {holder?.ToString(CultureInfo.InvariantCulture) ?? "none"})\n{await PostMortemAsync(cluster, observer)}");
                }

                return holder;
            }
            catch (CoordinationException ex)
            {
                first ??= ex;
                if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(1))
                {
                    recoveryFailures.Add($"{key}: the holder query failed after the heal and for a minute after that: {Describe(first)} / {Describe(ex)}\n{await PostMortemAsync(cluster, observer)}");
                    return null;
                }
            }
        }
    }

    /// <summary>An error and what caused it (the client's "no reply" wraps the last attempt's timeout or Orleans error).</summary>
    private static string Describe(Exception ex) =>
        ex.InnerException is { } inner ? $"{ex.Message} [last attempt: {inner.GetType().Name}: {inner.Message}]" : ex.Message;

    /// <summary>Each silo's readiness now and the cluster's last warnings and errors, for a recovery failure's message.</summary>
    private static async Task<string> PostMortemAsync(LocalClusterProcess cluster, TestClusterClient observer)
    {
        var readiness = new List<string>();
        for (var i = 0; i < cluster.Silos; i++)
        {
            readiness.Add($"silo{i} ready: {await cluster.IsReadyAsync(i)}");
        }

        // Polly's lines repeat Orleans' own placement retries, one or two per attempt.
        var warnings = cluster.Launcher.Lines(@"\b(warn|fail|crit): (?!Polly\[)");
        return $"{string.Join(", ", readiness)}\nlast warnings and errors:\n{string.Join('\n', warnings.Skip(Math.Max(0, warnings.Count - 40)).Select(l => l.Length > 400 ? l[..400] + " …" : l))}\nlauncher (last lines):\n{cluster.Launcher.Tail(20)}\nthe querying client's log:\n{string.Join('\n', observer.RecentLog(30))}";
    }

    /// <summary>One history from the in-process recorder, every client's OP lines and the nemesis' faults, ordered by time.</summary>
    private static History Merge(History own, IReadOnlyList<ChildProcess> clients, IReadOnlyList<FaultEvent> faults)
    {
        var ops = own.Ops.Select(op => (op.Time, Op: op)).ToList();
        foreach (var client in clients)
        {
            foreach (var line in client.Lines("^OP "))
            {
                var m = OpLine().Match(line);
                if (!m.Success)
                {
                    throw new FormatException($"{client.Name} printed a malformed history line: {line}");
                }

                var type = m.Groups["type"].Value switch
                {
                    "invoke" => OpType.Invoke,
                    "ok" => OpType.Ok,
                    "fail" => OpType.Fail,
                    _ => OpType.Info,
                };
                var time = long.Parse(m.Groups["time"].Value, CultureInfo.InvariantCulture);
                ops.Add((time, new Op(0, int.Parse(m.Groups["p"].Value, CultureInfo.InvariantCulture), type, m.Groups["f"].Value, m.Groups["key"].Value, Number(m.Groups["a"].Value), Number(m.Groups["b"].Value), Number(m.Groups["r"].Value), time, m.Groups["error"].Success ? m.Groups["error"].Value : null)));
            }
        }

        foreach (var fault in faults)
        {
            ops.Add((fault.Started, new Op(0, -1, OpType.Invoke, "nemesis", fault.Kind.ToString(), null, null, null, fault.Started, fault.Target)));
            ops.Add((fault.Healed, new Op(0, -1, OpType.Ok, "nemesis", fault.Kind.ToString(), null, null, null, fault.Healed, fault.Target)));
        }

        return new History(ops.OrderBy(x => x.Time).Select((x, i) => x.Op with { Index = i }));
    }

    private static long? Number(string s) => s == "-" ? null : long.Parse(s, CultureInfo.InvariantCulture);

    private static long[] FencedState(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        return [.. doc.RootElement.GetProperty("Items").EnumerateArray().Select(e => e.GetInt64())];
    }

    [GeneratedRegex(@"^OP (?<p>-?\d+) (?<type>\w+) (?<f>\w+) (?<key>\S+) (?<a>\S+) (?<b>\S+) (?<r>\S+) (?<time>\d+)(?: (?<error>.*))?$")]
    private static partial Regex OpLine();
}
