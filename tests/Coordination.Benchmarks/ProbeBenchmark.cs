using System.Diagnostics;
using System.Globalization;
using System.Text;
using Coordination.Membership.Protocol;
using Coordination.TestKit;
using Coordination.TestKit.Membership;

namespace Coordination.Benchmarks;

/// <summary>
/// Failure detection on the local cluster of real silo processes, configurations side by side in one run:
/// our probes (Local preset, Orleans' membership at its defaults as the backstop), Orleans alone tuned
/// (the host's Fast preset), Orleans alone at its defaults. Per trial: SIGKILL or SIGSTOP one silo, then
/// the time until every surviving silo's probe view and every surviving silo's Orleans membership hold it
/// dead. Also: how soon a lock on the stopped silo's grain is granted again; a soak with the silos
/// CPU-saturated counting false suspicions and evictions; and the protocol simulated at 5, 25 and 100 members.
/// </summary>
internal static class ProbeBenchmark
{
    private sealed record Config(string Id, string Name, bool Probes, string[] Args);

    private static readonly Config[] Configs =
    [
        new("ours", "Coordination probes (Local) + Orleans defaults", true, ["--Coordination:Host:Probes=Local", "--Coordination:Host:Membership=OrleansDefaults", "--Coordination:Host:RestartDelay=00:00:06"]),
        new("fast", "Orleans alone, tuned (Fast)", false, ["--Coordination:Host:Probes=Off", "--Coordination:Host:Membership=Fast", "--Coordination:Host:RestartDelay=00:00:12"]),
        new("defaults", "Orleans alone, defaults", false, ["--Coordination:Host:Probes=Off", "--Coordination:Host:Membership=OrleansDefaults", "--Coordination:Host:RestartDelay=00:00:30"]),
    ];

    /// <param name="Configurations">Which of ours, fast, defaults to measure (all when empty).</param>
    public sealed record Options(int Trials, int DefaultsStopTrials, int LockTrials, TimeSpan Soak, bool Quick, IReadOnlyList<string> Configurations);

    public static async Task<string> RunAsync(Options options)
    {
        var report = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        report.AppendLine(ci, $"## Failure detection, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, 3 silo processes{(options.Quick ? " (QUICK smoke run: do not quote)" : string.Empty)}");
        report.AppendLine();
        report.AppendLine("| configuration | fault | trials | dead in every probe view: median / p95 | dead in every Orleans view: median / p95 | lock granted again: median |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var config in Configs.Where(c => options.Configurations.Count == 0 || options.Configurations.Contains(c.Id)))
        {
            await using var cluster = await LocalClusterProcess.StartAsync(testTimings: false, config.Args);
            await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
            foreach (var (fault, signal) in new[] { ("SIGKILL", Signals.Kill), ("SIGSTOP", Signals.Stop) })
            {
                var trials = fault == "SIGSTOP" && config.Id == "defaults" ? options.DefaultsStopTrials : options.Trials;
                var views = new List<TimeSpan>();
                var orleans = new List<TimeSpan>();
                for (var t = 0; t < trials; t++)
                {
                    var (view, table) = await DetectAsync(cluster, victim: t % 3, signal, config.Probes);
                    if (view is { } v)
                    {
                        views.Add(v);
                    }

                    orleans.Add(table);
                    Console.Error.WriteLine($"{config.Name}, {fault} trial {t + 1}: probe views {view?.TotalSeconds.ToString("0.00", ci) ?? "-"} s, Orleans {table.TotalSeconds:0.00} s");
                }

                var locks = new List<TimeSpan>();
                for (var t = 0; t < options.LockTrials; t++)
                {
                    locks.Add(await LockRecoveryAsync(cluster, signal));
                    Console.Error.WriteLine($"{config.Name}, {fault} lock trial {t + 1}: {locks[^1].TotalSeconds:0.00} s");
                }

                report.AppendLine(ci, $"| {config.Name} | {fault} | {trials} | {(config.Probes ? Stats(views) : "(no probes)")} | {Stats(orleans)} | {(locks.Count > 0 ? $"{Median(locks).TotalSeconds:0.00} s ({locks.Count})" : "-")} |");
            }
        }

        report.AppendLine();
        report.AppendLine("Dead in every view: the last surviving silo to hold the victim dead. Lock granted again: SIGKILL/SIGSTOP of the silo hosting a free lock's grain until another acquire succeeds.");
        if (options.Soak > TimeSpan.Zero)
        {
            report.AppendLine();
            report.AppendLine(await SoakAsync(options.Soak));
        }

        report.AppendLine();
        report.AppendLine(Simulated(options.Quick));
        return report.ToString();
    }

    /// <summary>Signals one silo and polls the survivors until each one's probe view (if probes run) and Orleans view hold it dead.</summary>
    private static async Task<(TimeSpan? View, TimeSpan Orleans)> DetectAsync(LocalClusterProcess cluster, int victim, int signal, bool probes)
    {
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(180));
        var survivors = Enumerable.Range(0, 3).Where(i => i != victim).ToArray();
        var id = (await cluster.OrleansMembershipAsync(victim))?.Self ?? throw new InvalidOperationException($"silo{victim} does not answer");
        var pid = await cluster.PidOfAsync(victim);
        var viewDead = new Dictionary<int, TimeSpan>();
        var tableDead = new Dictionary<int, TimeSpan>();
        var watch = Stopwatch.StartNew();
        Signals.Send(pid, signal);
        try
        {
            while ((tableDead.Count < survivors.Length || (probes && viewDead.Count < survivors.Length)) && watch.Elapsed < TimeSpan.FromMinutes(3))
            {
                foreach (var i in survivors)
                {
                    if (probes && !viewDead.ContainsKey(i) && (await cluster.MembershipAsync(i))?[id] is { Status: "Dead" })
                    {
                        viewDead[i] = watch.Elapsed;
                    }

                    if (!tableDead.ContainsKey(i) && (await cluster.OrleansMembershipAsync(i))?.Status.GetValueOrDefault(id) == "Dead")
                    {
                        tableDead[i] = watch.Elapsed;
                    }
                }

                await Task.Delay(TimeSpan.FromMilliseconds(20));
            }
        }
        finally
        {
            if (signal == Signals.Stop)
            {
                Signals.Send(pid, Signals.Continue);
            }
        }

        if (tableDead.Count < survivors.Length)
        {
            throw new TimeoutException($"silo{victim} was not dead in every Orleans view after {watch.Elapsed}");
        }

        return (probes ? viewDead.Values.Max() : null, tableDead.Values.Max());
    }

    /// <summary>
    /// Activates a free lock's grain, signals its silo, and times the next acquire+release from a client. A fresh
    /// client per trial, with a session TTL longer than Orleans' slowest detection, so the session outlives the fault.
    /// </summary>
    private static async Task<TimeSpan> LockRecoveryAsync(LocalClusterProcess cluster, int signal)
    {
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(180));
        await using var client = await TestClusterClient.ConnectAsync(cluster, ttlSeconds: 120);
        var name = $"bench/probe-lock/{Guid.NewGuid():N}";
        await (await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
        var host = await client.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(client.Grains.GetGrain<ILockGrain>(name));
        var pid = await cluster.PidOfAsync(cluster.IndexOf(host!));
        var watch = Stopwatch.StartNew();
        Signals.Send(pid, signal);
        try
        {
            await (await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromMinutes(3))).DisposeAsync();
            return watch.Elapsed;
        }
        finally
        {
            if (signal == Signals.Stop)
            {
                Signals.Send(pid, Signals.Continue);
            }
        }
    }

    /// <summary>The silos CPU-saturated by busy threads in this process (twice the cores) while a client keeps locking: counts suspicions and evictions, none of which are real.</summary>
    private static async Task<string> SoakAsync(TimeSpan duration)
    {
        await using var cluster = await LocalClusterProcess.StartAsync(testTimings: false, Configs[0].Args);
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
        var before = await cluster.SilosAsync();
        await using var client = await TestClusterClient.ConnectAsync(cluster, ttlSeconds: 15);
        using var stop = new CancellationTokenSource(duration);
        var hogs = Enumerable.Range(0, Environment.ProcessorCount * 2).Select(_ => new Thread(() =>
        {
            var x = 0UL;
            while (!stop.IsCancellationRequested)
            {
                x = (x * 6364136223846793005UL) + 1442695040888963407UL;
            }

            GC.KeepAlive(x);
        })
        {
            IsBackground = true,
            Priority = ThreadPriority.Normal,
        }).ToList();
        hogs.ForEach(h => h.Start());
        long operations = 0, failures = 0;
        var maxHealth = 0;
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await (await client.Coordination.CreateLock($"soak/{operations % 16}").AcquireAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
                    operations++;
                }
                catch (Exception ex) when (ex is CoordinationException or TimeoutException)
                {
                    failures++;
                }
            }
        });
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < 3; i++)
            {
                if (await cluster.MembershipAsync(i) is { } view)
                {
                    maxHealth = Math.Max(maxHealth, view.LocalHealth);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        await load;
        hogs.ForEach(h => h.Join());
        var views = new List<ProbeView>();
        for (var i = 0; i < 3; i++)
        {
            views.Add(await cluster.MembershipAsync(i) ?? throw new InvalidOperationException($"silo{i} stopped answering during the soak"));
        }

        var after = await cluster.SilosAsync();
        var restarts = after.Sum(s => s.Restarts) - before.Sum(s => s.Restarts);
        var deadInViews = views.Sum(v => v.Members.Count(m => m.Status == "Dead"));
        return string.Create(CultureInfo.InvariantCulture, $"Soak, {duration.TotalMinutes:0} min, probes (Local), {Environment.ProcessorCount * 2} busy threads on {Environment.ProcessorCount} cores plus a locking client ({operations} lock+unlock, {failures} failed): " +
            $"false suspicions {views.Sum(v => v.SuspicionsRaised)}, deaths declared {views.Sum(v => v.DeathsDeclared)}, members dead in views {deadInViews}, silo restarts (evictions) {restarts}, timer stalls seen {views.Sum(v => v.Stalls)}, highest local health score {maxHealth}.");
    }

    /// <summary>The protocol itself, simulated (local preset, 1 % loss): detection at 5, 25 and 100 members, and messages per member per second.</summary>
    private static string Simulated(bool quick)
    {
        var sb = new StringBuilder("Simulated protocol (local preset, 1 % loss, 20 % of members crashed at once):");
        foreach (var size in new[] { 5, 25, 100 })
        {
            var times = new List<TimeSpan>();
            double rate = 0;
            var seeds = quick ? 2 : (size == 100 ? 5 : 20);
            for (var seed = 1; seed <= seeds; seed++)
            {
                var sim = new SwimSimulation(size, seed, ProbeOptions.Local(), loss: 0.01);
                sim.RunUntil(TimeSpan.FromSeconds(5));
                rate += sim.Members.Sum(m => m.Sent) / (double)size / 5 / seeds;
                var crashed = Enumerable.Range(0, size).Where(i => i % 5 == seed % 5).Select(sim.Id).ToList();
                var at = sim.Now;
                crashed.ForEach(sim.Crash);
                sim.RunFor(TimeSpan.FromSeconds(15));
                times.AddRange(sim.Live.SelectMany(m => crashed.Select(c => (m.DeadAt(c) ?? TimeSpan.FromHours(1)) - at)));
            }

            sb.Append(CultureInfo.InvariantCulture, $" {size} members: {Stats(times)} to dead in a live view, {rate:0.0} msg/member/s;");
        }

        return sb.ToString().TrimEnd(';') + ".";
    }

    private static string Stats(List<TimeSpan> xs)
    {
        if (xs.Count == 0)
        {
            return "-";
        }

        var sorted = xs.Order().ToList();
        return string.Create(CultureInfo.InvariantCulture, $"{sorted[sorted.Count / 2].TotalSeconds:0.00} s / {sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(sorted.Count * 0.95) - 1)].TotalSeconds:0.00} s");
    }

    private static TimeSpan Median(List<TimeSpan> xs) => xs.Order().ElementAt(xs.Count / 2);
}
