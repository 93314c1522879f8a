using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Coordination;
using Coordination.Benchmarks;
using Coordination.TestKit;

// dotnet run -c Release --project tests/Coordination.Benchmarks [-- --quick] [--skip-peers] [--out results.md]
// Starts each installed peer (a three-member etcd cluster, a single etcd, Redis, PostgreSQL) and the local
// Coordination cluster, one after the other, runs the same scenarios against each in this one run, and prints
// one markdown table (throughput, latency percentiles, server CPU and, for ours, messages per operation) with the ratios.
var quick = new Option<bool>("--quick") { Description = "Fewer pairs and trials (a smoke run, not figures to quote)." };
var skipPeers = new Option<bool>("--skip-peers") { Description = "Measure only Coordination." };
var output = new Option<string?>("--out") { Description = "Also write the markdown report to this file." };
var warmUp = new Option<TimeSpan?>("--warm-up") { Description = "Load on each system before its timed parts, the same for every system (default 2 minutes; 10 s with --quick)." };
var root = new RootCommand("Coordination benchmark: the local cluster against etcd (three members and one), Redis and PostgreSQL locks, side by side.") { quick, skipPeers, output, warmUp };

// The etcd leader of the election failover figure runs as a separate process so that it can be killed.
var etcdEndpoint = new Argument<string>("endpoint");
var electionName = new Argument<string>("election");
var leaseTtl = new Argument<int>("ttl-seconds");
var etcdLeader = new Command("etcd-leader", "Campaign in an etcd election with a kept-alive lease and lead until killed.") { Hidden = true };
etcdLeader.Arguments.Add(etcdEndpoint);
etcdLeader.Arguments.Add(electionName);
etcdLeader.Arguments.Add(leaseTtl);
etcdLeader.SetAction((result, _) => ElectionFailover.EtcdLeaderAsync(result.GetValue(etcdEndpoint)!, result.GetValue(electionName)!, result.GetValue(leaseTtl)));
root.Subcommands.Add(etcdLeader);

// dotnet run -c Release --project tests/Coordination.Benchmarks -- probes [--trials 20] [--defaults-stop-trials N] [--lock-trials 5] [--soak 00:10:00] [--configs ours,fast,defaults] [--quick] [--out f]
var trials = new Option<int>("--trials") { Description = "SIGKILL and SIGSTOP trials per configuration.", DefaultValueFactory = _ => 20 };
var defaultsStopTrials = new Option<int?>("--defaults-stop-trials") { Description = "SIGSTOP trials for Orleans at its defaults (about 70 s each); default: --trials." };
var lockTrials = new Option<int>("--lock-trials") { Description = "Lock-recovery trials per configuration and fault.", DefaultValueFactory = _ => 5 };
var soak = new Option<TimeSpan>("--soak") { Description = "Soak with the silos CPU-saturated (0 to skip).", DefaultValueFactory = _ => TimeSpan.FromMinutes(10) };
var probesQuick = new Option<bool>("--quick") { Description = "2 trials, 1 lock trial, no soak: a smoke run, not figures to quote." };
var probesOut = new Option<string?>("--out") { Description = "Also write the markdown report to this file." };
var probeConfigs = new Option<string?>("--configs") { Description = "Comma-separated subset of ours, fast, defaults (default: all three)." };
var probes = new Command("probes", "Failure detection: our probes against Orleans' own membership (defaults and tuned), on real silo processes.") { trials, defaultsStopTrials, lockTrials, soak, probesQuick, probesOut, probeConfigs };
probes.SetAction(async (result, ct) =>
{
    var q = result.GetValue(probesQuick);
    var n = q ? 2 : result.GetValue(trials);
    var markdown = await ProbeBenchmark.RunAsync(new ProbeBenchmark.Options(
        n,
        q ? 1 : result.GetValue(defaultsStopTrials) ?? n,
        q ? 1 : result.GetValue(lockTrials),
        q ? TimeSpan.Zero : result.GetValue(soak),
        q,
        result.GetValue(probeConfigs)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? []));
    Console.WriteLine(markdown);
    if (result.GetValue(probesOut) is { } path)
    {
        await File.WriteAllTextAsync(path, markdown, ct);
    }

    return 0;
});
root.Subcommands.Add(probes);
// dotnet run -c Release --project tests/Coordination.Benchmarks -- faults [--duration 00:30:00] [--segment 00:05:00] [--seed N] [--silos 3] [--faults KillSilo,...] [--unsafe LeaseOnly] [--out report.md]
var faultDuration = new Option<TimeSpan>("--duration") { Description = "Total time of faults (the soak).", DefaultValueFactory = _ => TimeSpan.FromMinutes(30) };
var faultSegment = new Option<TimeSpan>("--segment") { Description = "Length of one run (a fresh cluster and one checked history each).", DefaultValueFactory = _ => TimeSpan.FromMinutes(5) };
var faultSeed = new Option<int?>("--seed") { Description = "Seed of the first run (run i uses seed + i); random when absent." };
var faultSilos = new Option<int>("--silos") { Description = "Silo processes (5 adds the majorities-ring partition).", DefaultValueFactory = _ => 3 };
var faultKinds = new Option<string?>("--faults") { Description = "Comma-separated fault kinds; default all that fit the silo count." };
var faultUnsafe = new Option<string?>("--unsafe") { Description = "Run a deliberately broken variant (LeaseOnly, TokensFromMemory): the report must show violations." };
var faultOut = new Option<string?>("--out") { Description = "Also write the soak report to this file." };
var faultElections = new Option<int>("--elections") { Description = "Elections beside the three locks.", DefaultValueFactory = _ => 1 };
var faultsCommand = new Command("faults", "Fault-injection soak: seeded runs of crashes, pauses, partitions, clock skew and client pauses against real processes, every history checked.") { faultDuration, faultSegment, faultSeed, faultSilos, faultKinds, faultUnsafe, faultOut, faultElections };
faultsCommand.SetAction(async (result, ct) =>
{
    var silos = result.GetValue(faultSilos);
    var kinds = result.GetValue(faultKinds) is { } list
        ? list.Split(',').Select(k => Enum.Parse<Coordination.TestKit.Faults.FaultKind>(k.Trim(), ignoreCase: true)).ToList()
        : [.. Enum.GetValues<Coordination.TestKit.Faults.FaultKind>().Where(k => silos >= 5 || k != Coordination.TestKit.Faults.FaultKind.PartitionRing)];
    var soak = await FaultSoak.RunAsync(result.GetValue(faultDuration), result.GetValue(faultSegment), result.GetValue(faultSeed) ?? Random.Shared.Next(), silos, kinds, result.GetValue(faultUnsafe), result.GetValue(faultElections), ct);
    Console.WriteLine(soak.Markdown);
    if (result.GetValue(faultOut) is { } path)
    {
        await File.WriteAllTextAsync(path, soak.Markdown, ct);
    }

    return soak.Violations == 0 ? 0 : 1;
});
root.Subcommands.Add(faultsCommand);
// dotnet run -c Release --project tests/Coordination.Benchmarks -- longevity [--names 1000000] [--step 100000] [--workers 8] [--held 100000] [--out f]
var longNames = new Option<long>("--names") { Description = "Distinct lock names, one acquire+release each.", DefaultValueFactory = _ => 1_000_000 };
var longStep = new Option<long>("--step") { Description = "Names per printed step.", DefaultValueFactory = _ => 100_000 };
var longWorkers = new Option<int>("--workers") { Description = "Concurrent workers sharing the one session.", DefaultValueFactory = _ => 8 };
var longHeld = new Option<int>("--held") { Description = "Locks held at once before a silo is SIGKILLed (0 to skip).", DefaultValueFactory = _ => 100_000 };
var longTtl = new Option<TimeSpan>("--ttl") { Description = "The shared session's TTL.", DefaultValueFactory = _ => TimeSpan.FromSeconds(15) };
var longOut = new Option<string?>("--out") { Description = "Also write the markdown report to this file." };
var longevity = new Command("longevity", "A lock per entity through the shared session: throughput, latency, memory and replica slots per step of new names; then a silo killed with many locks held.") { longNames, longStep, longWorkers, longHeld, longTtl, longOut };
longevity.SetAction(async (result, ct) =>
{
    var markdown = await Longevity.RunAsync(new Longevity.Options(result.GetValue(longNames), result.GetValue(longStep), result.GetValue(longWorkers), result.GetValue(longHeld), result.GetValue(longTtl)), ct);
    Console.WriteLine(markdown);
    if (result.GetValue(longOut) is { } path)
    {
        await File.WriteAllTextAsync(path, markdown, ct);
    }

    return 0;
});
root.Subcommands.Add(longevity);
// dotnet run -c Release --project tests/Coordination.Benchmarks -- profile [--scenario fresh] [--duration 00:01:00] [--warm-up 00:00:30] [--trace silo0.nettrace] [--trace-silo 0] [--trace-profile dotnet-sampled-thread-time] [--after 00:00:30] [--held 100000] [--tls]
var profScenario = new Option<string>("--scenario") { Description = $"One of {string.Join(", ", ProfileLoad.ScenarioNames)}.", DefaultValueFactory = _ => "fresh" };
profScenario.AcceptOnlyFromAmong(ProfileLoad.ScenarioNames);
var profDuration = new Option<TimeSpan>("--duration") { Description = "How long the load runs after its warm-up.", DefaultValueFactory = _ => TimeSpan.FromMinutes(1) };
var profWarmUp = new Option<TimeSpan>("--warm-up") { Description = "Load before the measured part (tiered JIT settles after about 30 s).", DefaultValueFactory = _ => TimeSpan.FromSeconds(30) };
var profTrace = new Option<string?>("--trace") { Description = "Collect a dotnet-trace of one silo (--trace-silo) over the run into this file." };
var profTraceSilo = new Option<int>("--trace-silo") { Description = "The silo to trace, by index (the client's gateway silo shows acquire times at the end).", DefaultValueFactory = _ => 0 };
var profTraceProfile = new Option<string>("--trace-profile") { Description = "dotnet-trace profile (dotnet-sampled-thread-time, gc-verbose, ...).", DefaultValueFactory = _ => "dotnet-sampled-thread-time" };
var profAfter = new Option<TimeSpan>("--after") { Description = "Then watch the idle cluster this long (CPU, messages and rounds per second, in 5 s windows).", DefaultValueFactory = _ => TimeSpan.Zero };
var profHeld = new Option<int>("--held") { Description = "Locks 100 sessions take after the warm-up and hold through the timed part (0: none).", DefaultValueFactory = _ => 0 };
profHeld.Validators.Add(r =>
{
    if (r.GetValueOrDefault<int>() < 0)
    {
        r.AddError("--held must not be negative.");
    }
});
var profTls = new Option<bool>("--tls") { Description = "The cluster and the client over mutual TLS (certificates made for the run): alternate with runs without it to see what TLS costs." };
var profile = new Command("profile", "One scenario against the local cluster for a while (silo pids printed), optionally traced: for profiling, not for figures.") { profScenario, profDuration, profWarmUp, profTrace, profTraceSilo, profTraceProfile, profAfter, profHeld, profTls };
profile.SetAction(async (result, ct) =>
{
    Console.WriteLine(await ProfileLoad.RunAsync(new ProfileLoad.Options(result.GetValue(profScenario)!, result.GetValue(profDuration), result.GetValue(profWarmUp), result.GetValue(profTrace), result.GetValue(profTraceProfile)!, result.GetValue(profAfter), result.GetValue(profTraceSilo), result.GetValue(profHeld), result.GetValue(profTls)), ct));
    return 0;
});
root.Subcommands.Add(profile);
// dotnet run -c Release --project tests/Coordination.Benchmarks -- allocations silo0.nettrace [--top 30]
var allocTrace = new Argument<string>("trace") { Description = "An EventPipe trace with allocation samples (dotnet-trace --profile gc-verbose, or profile --trace F --trace-profile gc-verbose)." };
var allocTop = new Option<int>("--top") { Description = "Entries per list.", DefaultValueFactory = _ => 30 };
var allocations = new Command("allocations", "Where a traced process's allocations go: sampled bytes by type and by method of ours or Orleans' on the stack.") { allocTrace, allocTop };
allocations.SetAction(result =>
{
    try
    {
        Console.WriteLine(AllocationReport.Summarize(result.GetValue(allocTrace)!, result.GetValue(allocTop)));
        return 0;
    }
    catch (Exception ex) when (ex is FileNotFoundException or InvalidOperationException)
    {
        Console.Error.WriteLine(ex.Message);
        return 1;
    }
});
root.Subcommands.Add(allocations);
const int ElectionTtlSeconds = 10;
const int IdleSettleSeconds = 25;
root.SetAction(async (result, ct) =>
{
    var q = result.GetValue(quick);
    var sizes = q
        ? (Seq: 300, Par: 1600, Contended: 400, Failovers: 2, DeadClients: 1, Idle: TimeSpan.FromSeconds(2))
        : (Seq: 6000, Par: 24000, Contended: 4000, Failovers: 5, DeadClients: 3, Idle: TimeSpan.FromSeconds(5));

    // Tiered JIT keeps compiling our silos' hot code for a minute or two after they start (a profile 25-45 s after
    // the start put a fifth of the lock silo's CPU in it, 2 % after two minutes); the peers are native or Go. Every
    // system gets the same warm-up, long enough that the figures describe a running service, not its first minute.
    var warm = result.GetValue(warmUp) ?? (q ? TimeSpan.FromSeconds(10) : TimeSpan.FromMinutes(2));
    if (warm < TimeSpan.Zero)
    {
        Console.Error.WriteLine($"--warm-up {warm} is negative.");
        return 64;
    }

    var report = new Report { WarmUp = warm };
    if (Repo.Configuration != "Release")
    {
        report.Notes.Add($"WARNING: built as {Repo.Configuration}; figures are only meaningful from a Release build (dotnet run -c Release ...).");
    }

    if (!result.GetValue(skipPeers))
    {
        foreach (var (label, start) in new (string, Func<Task<(ILockBackend?, string?)>>)[]
        {
            ("etcd × 3", () => PeerServers.EtcdAsync(3)),
            ("etcd", () => PeerServers.EtcdAsync(1)),
            ("Redis", PeerServers.RedisAsync),
            ("PostgreSQL", PeerServers.PostgresAsync),
        })
        {
            var (backend, skipped) = await start();
            if (backend is null)
            {
                report.Notes.Add($"{label} skipped: {skipped}.");
                continue;
            }

            await using (backend)
            {
                report.Rows.Add(await MeasureAsync(backend, warm, sizes.Seq, sizes.Par, sizes.Contended, sizes.Idle));
                if (backend is EtcdBackend { Members: 1 } etcd)
                {
                    report.EtcdLeaderFailovers = await ElectionFailover.EtcdAsync(etcd.Endpoint, sizes.DeadClients, ElectionTtlSeconds);
                }
            }
        }
    }

    await using (var cluster = await LocalClusterProcess.StartAsync(testTimings: false))
    await using (var client = await TestClusterClient.ConnectAsync(cluster, ttlSeconds: 15))
    await using (var ours = new CoordinationBackend(client, cluster))
    {
        report.Rows.Add(await MeasureAsync(ours, warm, sizes.Seq, sizes.Par, sizes.Contended, sizes.Idle));
        report.Floors = await TransportFloorBackend.CompareAsync(client, ours, sizes.Seq, sizes.Par, rounds: q ? 1 : 3, TimeSpan.FromSeconds(q ? 2 : 10));
        report.Held = await HeldLocks.MeasureAsync(cluster, client, ours, q ? 10_000 : 100_000, sessions: 100, sizes.Seq, sizes.Par);
        report.Failovers = await Failover.GrainSiloKilledAsync(cluster, client, sizes.Failovers);
        report.DeadClients = await Failover.ClientKilledAsync(cluster, client, sizes.DeadClients, ttlSeconds: 10);
        report.LeaderFailovers = await ElectionFailover.CoordinationAsync(cluster, client, sizes.DeadClients, ElectionTtlSeconds);
    }

    var markdown = report.ToMarkdown(q);
    Console.WriteLine(markdown);
    if (result.GetValue(output) is { } path)
    {
        await File.WriteAllTextAsync(path, markdown, ct);
    }

    return 0;
});
return await root.Parse(args).InvokeAsync();

static async Task<Row> MeasureAsync(ILockBackend backend, TimeSpan warmUp, int seq, int par, int contended, TimeSpan idle)
{
    // Warm up every path on both sides, so the figures describe a running service, not its first minutes.
    Console.Error.WriteLine($"warming up {backend.Name} for {warmUp} ...");
    var entities = await backend.NewContenderAsync();
    var warmUntil = DateTime.UtcNow + warmUp;
    while (DateTime.UtcNow < warmUntil)
    {
        await Scenarios.SequentialAsync(backend, 300);
        await Scenarios.FreshNamesAsync(backend, entities, 300);
        await Scenarios.ParallelAsync(backend, 16, 800);
        await Scenarios.ContendedAsync(backend, 8, 160);
    }

    Console.Error.WriteLine($"measuring {backend.Name} ...");
    var s = await Scenarios.SequentialAsync(backend, seq);
    var f = await Scenarios.FreshNamesAsync(backend, entities, seq);
    var p = await Scenarios.ParallelAsync(backend, 16, par);
    var c = await Scenarios.ContendedAsync(backend, 8, contended);
    await entities.DisposeAsync();

    // Idle: no contender open, once what the scenarios left behind is done: their sessions, leases and connections
    // close, and (ours) names retire 5 s after their last use (IdleRetention). Measured 2 s after the last scenario,
    // the fresh names' retirements fell into the window in some runs (idle messages 48/s in one run, 214/s in the next);
    // 10 s after it, the tail of that work still did (244 silo messages/s, against 35/s at rest). `profile --scenario
    // fresh --after 00:01:00` shows the tail: the retirements' deletions at 5 s, then their tombstones' forgets and the
    // lock grains' deactivations (about 1,000 messages/s with no rounds), down to 35/s by 20 s after the load.
    await Task.Delay(TimeSpan.FromSeconds(IdleSettleSeconds));
    var before = await backend.CostAsync();
    var watch = Stopwatch.StartNew();
    await Task.Delay(idle);
    var idleCost = await backend.CostAsync() - before;
    return new Row(backend.Name, s, f, p, c, idleCost, watch.Elapsed);
}

internal static class Failover
{
    /// <summary>Kills (SIGKILL) the silo hosting a free lock's grain and times the next acquire; waits for the cluster to heal between trials.</summary>
    public static async Task<List<TimeSpan>> GrainSiloKilledAsync(LocalClusterProcess cluster, TestClusterClient client, int trials)
    {
        var results = new List<TimeSpan>();
        for (var i = 0; i < trials; i++)
        {
            await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
            var name = $"bench/failover/{Guid.NewGuid():N}";
            await (await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
            var host = await client.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(client.Grains.GetGrain<ILockGrain>(name));
            var pid = await cluster.PidOfAsync(cluster.IndexOf(host!));
            var watch = Stopwatch.StartNew();
            Signals.Send(pid, Signals.Kill);
            await (await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60))).DisposeAsync();
            results.Add(watch.Elapsed);
            Console.Error.WriteLine($"failover trial {i + 1}: {watch.Elapsed.TotalSeconds:0.00} s");
        }

        return results;
    }

    /// <summary>A client process takes a lock and is SIGKILLed; times another client's grant.</summary>
    public static async Task<List<TimeSpan>> ClientKilledAsync(LocalClusterProcess cluster, TestClusterClient client, int trials, double ttlSeconds)
    {
        var results = new List<TimeSpan>();
        for (var i = 0; i < trials; i++)
        {
            await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
            var name = $"bench/dead/{Guid.NewGuid():N}";
            await using var holder = ChildProcess.Start("client", Repo.TestClientDll, [cluster.ClusterId, string.Join(',', cluster.GatewayPorts), name, ttlSeconds.ToString(CultureInfo.InvariantCulture)], redirectInput: true);
            await holder.WaitForLineAsync("ACQUIRED", TimeSpan.FromSeconds(60));
            var watch = Stopwatch.StartNew();
            holder.Signal(Signals.Kill);
            await (await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(120))).DisposeAsync();
            results.Add(watch.Elapsed);
            Console.Error.WriteLine($"dead client trial {i + 1}: {watch.Elapsed.TotalSeconds:0.00} s");
        }

        return results;
    }
}
