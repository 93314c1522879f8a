using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Coordination.Client;
using Coordination.TestKit;
using Xunit.Abstractions;

namespace Coordination.Process.Tests;

/// <summary>The local cluster of real silo processes, started as the README does, with silos and clients killed and paused.</summary>
public sealed class LocalClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(LocalClusterProcess.TtlSeconds);

    [Fact]
    public async Task The_dashboard_answers_and_lists_three_active_silos()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        using var http = new HttpClient();
        JsonElement counters = default;
        await Eventually.Async(async () =>
        {
            counters = await http.GetFromJsonAsync<JsonElement>(cluster.Dashboard("/dashboard/DashboardCounters"));
            return counters.GetProperty("hosts").EnumerateArray().Count(h => h.GetProperty("status").GetString() == "Active") == 3;
        }, TimeSpan.FromSeconds(30), "the dashboard's counters to list three active silos");
        Assert.Equal(3, counters.GetProperty("hosts").GetArrayLength());
        var page = await http.GetStringAsync(cluster.Dashboard("/"));
        Assert.Contains("Coordination local cluster", page, StringComparison.Ordinal);

        // A new user's first screen: no information lines from Polly for every placement, nor Orleans' advice to run
        // server GC (the silo host runs workstation GC on purpose).
        Assert.DoesNotContain("ServerGC", cluster.Launcher.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Execution attempt", cluster.Launcher.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Resilience pipeline executed", cluster.Launcher.Output, StringComparison.Ordinal);

        // Nor a line per partition when the first plan assigns them all, nor an error for every readiness probe
        // made while the silos were starting.
        Assert.DoesNotContain(" moved to epoch ", cluster.Launcher.Output, StringComparison.Ordinal);
        Assert.Contains("Planned new replica configurations", cluster.Launcher.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Health check ready with status", cluster.Launcher.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGKILL_of_the_silo_hosting_a_held_locks_grain_keeps_the_holder_and_the_next_token_is_higher()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        await using var holder = await TestClusterClient.ConnectAsync(cluster);
        await using var other = await TestClusterClient.ConnectAsync(cluster);
        var name = $"orders/{Guid.NewGuid():N}";
        var handle = await holder.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
        var host = await holder.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(holder.Grains.GetGrain<ILockGrain>(name));
        var victim = cluster.IndexOf(host!);
        var pid = await cluster.PidOfAsync(victim);

        // The other client's acquire waits behind the holder on its client lane when the silo dies: its call is cut
        // off (its lane's silo, or the grain's, is gone) and must come back as a grant once the holder lets go.
        var lane = ((CoordinationClient)other.Coordination).Lane!;
        await Eventually.Async(
            async () =>
            {
                await (await other.Coordination.CreateLock($"{name}/warm-up").AcquireAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
                return lane.IsConnected;
            },
            TimeSpan.FromSeconds(30),
            "the other client's lane connected");
        var sent = lane.Direct;
        var wait = other.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60)).AsTask();
        await Eventually.Async(async () => (await holder.Coordination.CreateLock(name).GetInfoAsync()).Waiters.Length == 1, TimeSpan.FromSeconds(30), "the other client's acquire parked behind the holder");
        Assert.True(lane.Direct > sent, "the parked acquire went on the client lane");
        var watch = Stopwatch.StartNew();
        Signals.Send(pid, Signals.Kill);

        var info = await holder.Coordination.CreateLock(name).GetInfoAsync();
        Assert.Equal(handle.FencingToken, info.Holder!.FencingToken);
        Assert.False(handle.HandleLostToken.IsCancellationRequested, "the holder lost the lock because a silo died");
        Assert.False(wait.IsCompleted, "the waiting acquire ended while the lock was held");
        await handle.DisposeAsync();
        await using var next = await wait;
        output.WriteLine($"silo{victim} (pid {pid}) killed; the next grant came {watch.Elapsed.TotalSeconds:0.00} s later with token {next.FencingToken} > {handle.FencingToken}");
        Assert.True(next.FencingToken > handle.FencingToken);
        var after = await other.Coordination.CreateLock(name).GetInfoAsync();
        Assert.Equal(next.FencingToken, after.Holder?.FencingToken);
        Assert.Empty(after.Waiters);
        Assert.Throws<ObjectDisposedException>(() => handle.HandleLostToken);
    }

    [Fact]
    public async Task SIGKILL_of_the_first_silo_leaves_a_working_cluster_and_the_launcher_brings_it_back_caught_up()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        await using var client = await TestClusterClient.ConnectAsync(cluster);
        var name = $"first/{Guid.NewGuid():N}";
        var before = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
        var pid = await cluster.PidOfAsync(0);
        Signals.Send(pid, Signals.Kill);

        await before.DisposeAsync();
        await using (var after = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60)))
        {
            Assert.True(after.FencingToken > before.FencingToken);
        }

        await Eventually.Async(async () => (await cluster.SilosAsync()).Single(s => s.Index == 0) is { Restarts: 1, Pid: { } now } && now != pid, TimeSpan.FromSeconds(60), "the launcher restarting silo0");
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(90));
        var readiness = await cluster.ReadinessAsync(0);
        output.WriteLine($"silo0 killed, the cluster kept granting, silo0 restarted and caught up: {readiness}");
        var recovered = readiness.GetProperty("recovered").EnumerateArray().ToList();
        Assert.True(recovered.Count > 0, $"the replacement reports the recoveries it finished on /health/ready: {readiness}");
        Assert.All(recovered, r =>
        {
            Assert.True(r.GetProperty("seconds").GetDouble() > 0, $"a recovery's duration is reported: {r}");
            Assert.True(r.GetProperty("sourcesDone").GetInt32() >= r.GetProperty("sourcesNeeded").GetInt32(), $"a finished recovery heard from a majority: {r}");
        });
        Assert.Empty(readiness.GetProperty("recovering").EnumerateArray());

        // The replacement's console tells its recoveries a spell at a time, not in a line per partition.
        const string Told = @"^\[silo0\] .*Recovered (\d+) of this silo's partitions";
        await Eventually.Async(() => Task.FromResult(cluster.Launcher.Lines(Told).Sum(l => int.Parse(Regex.Match(l, Told).Groups[1].Value, CultureInfo.InvariantCulture)) >= recovered.Count), TimeSpan.FromSeconds(30), $"silo0's console to tell of its {recovered.Count} recoveries");
        var lines = cluster.Launcher.Lines(Told);
        Assert.True(recovered.Count == 1 || lines.Count < recovered.Count, $"{recovered.Count} recoveries told in {lines.Count} lines:\n{string.Join('\n', lines)}");
    }

    [Fact]
    public async Task SIGKILL_of_the_client_process_holding_a_lock_frees_it_within_the_ttl_bound()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        var name = $"jobs/{Guid.NewGuid():N}";
        await using var client = ChildProcess.Start("client", Repo.TestClientDll, [cluster.ClusterId, string.Join(',', cluster.GatewayPorts), name, LocalClusterProcess.TtlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)], redirectInput: true);
        var acquired = await client.WaitForLineAsync(@"ACQUIRED token=(\d+)", TimeSpan.FromSeconds(60));
        var token = long.Parse(acquired.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        await using var other = await TestClusterClient.ConnectAsync(cluster);

        var killedAt = Stopwatch.GetTimestamp();
        client.Signal(Signals.Kill);
        await using var next = await other.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60));
        var freedAfter = Stopwatch.GetElapsedTime(killedAt);
        output.WriteLine($"the dead client's lock was granted again {freedAfter.TotalSeconds:0.00} s after SIGKILL (TTL {Ttl.TotalSeconds} s)");
        Assert.True(next.FencingToken > token);
        Assert.True(freedAfter <= Ttl + TimeSpan.FromSeconds(2), $"freed after {freedAfter}: more than TTL + 2 s");
    }

    [Fact]
    public async Task A_lock_held_by_an_application_that_exits_normally_is_free_right_after()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        var name = $"exits/{Guid.NewGuid():N}";
        // A TTL far beyond the test's wait: a lock freed by expiry would fail it.
        await using var app = ChildProcess.Start("app", Repo.TestClientDll, [cluster.ClusterId, string.Join(',', cluster.GatewayPorts), name, "120", "app"], redirectInput: true);
        var acquired = await app.WaitForLineAsync(@"ACQUIRED token=(\d+)", TimeSpan.FromSeconds(60));

        await app.WriteLineAsync("exit");
        Assert.Equal(0, await app.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        await using var other = await TestClusterClient.ConnectAsync(cluster);
        var info = await other.Coordination.CreateLock(name).GetInfoAsync();
        output.WriteLine(app.Output);
        Assert.True(info.Holder is null, $"the lock (token {acquired.Groups[1].Value}) is still held after its application exited: {info.Holder}");
        Assert.DoesNotContain("Exception", app.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_paused_past_its_deadline_has_given_up_the_lock_before_a_competitor_gets_it()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        var name = $"paused/{Guid.NewGuid():N}";
        await using var client = ChildProcess.Start("client", Repo.TestClientDll, [cluster.ClusterId, string.Join(',', cluster.GatewayPorts), name, LocalClusterProcess.TtlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)], redirectInput: true);
        var acquired = await client.WaitForLineAsync(@"ACQUIRED token=(\d+)", TimeSpan.FromSeconds(60));
        await client.WaitForLineAsync(@"DEADLINE at=(\d+)", TimeSpan.FromSeconds(10));
        await using var competitor = await TestClusterClient.ConnectAsync(cluster);

        client.Signal(Signals.Stop);
        var deadline = client.Lines(@"DEADLINE at=").Max(l => long.Parse(l.Split('=')[1], System.Globalization.CultureInfo.InvariantCulture));
        await using var next = await competitor.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60));
        var grantedAt = Stopwatch.GetTimestamp();
        client.Signal(Signals.Continue);

        var lost = await client.WaitForLineAsync(@"LOST at=(\d+)", TimeSpan.FromSeconds(10));
        output.WriteLine($"client deadline {Stopwatch.GetElapsedTime(deadline, grantedAt).TotalSeconds:0.000} s before the competitor's grant; lost signal observed after SIGCONT: {lost.Value}");
        Assert.True(deadline < grantedAt, "the competitor was granted the lock before the paused client's own deadline");
        Assert.True(next.FencingToken > long.Parse(acquired.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_launcher_whose_starting_process_is_gone_stops_its_silos_and_exits()
    {
        // The stand-in for a test or benchmark process that dies: the launcher watches it instead of this process.
        using var starter = System.Diagnostics.Process.Start(new ProcessStartInfo("sleep", "600"))!;
        try
        {
            await using var cluster = await LocalClusterProcess.StartAsync($"--Coordination:Host:ParentProcessId={starter.Id}");
            var silos = (await cluster.SilosAsync()).Select(s => s.Pid).OfType<int>().ToList();
            Assert.Equal(cluster.Silos, silos.Count);
            Assert.False(cluster.Launcher.HasExited, cluster.Launcher.Tail());

            starter.Kill();
            await starter.WaitForExitAsync();
            int code;
            try
            {
                code = await cluster.Launcher.WaitForExitAsync(TimeSpan.FromSeconds(120));
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The launcher still runs 120 s after its starter (pid {starter.Id}) exited. It printed:\n{cluster.Launcher.Tail()}");
            }

            Assert.Equal(0, code);
            Assert.Contains($"(pid {starter.Id}) is gone; stopping", cluster.Launcher.Output, StringComparison.Ordinal);
            await Eventually.Async(() => silos.All(Gone), TimeSpan.FromSeconds(30), $"silo processes {string.Join(", ", silos)} gone with their launcher");
        }
        finally
        {
            if (!starter.HasExited)
            {
                starter.Kill();
            }
        }
    }

    [Fact]
    public async Task A_launcher_stopped_while_its_silos_start_ends_them_all_in_short_lines_and_exits_0()
    {
        await using var cluster = LocalClusterProcess.Launch(testTimings: true);
        var started = await Task.WhenAll(Enumerable.Range(0, cluster.Silos).Select(i => cluster.Launcher.WaitForLineAsync($@"Started silo {i} as pid (\d+)", TimeSpan.FromSeconds(60))));
        var silos = started.Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();

        // A silo's first line comes from inside Orleans' start (its lifecycle's application stage), seconds before the
        // cluster is ready: Ctrl+C there cancels starts under way.
        await cluster.Launcher.WaitForLineAsync(@"^\[silo\d\] ", TimeSpan.FromSeconds(60));
        Assert.Empty(cluster.Launcher.Lines("COORDINATION-READY"));
        cluster.Launcher.Signal(Signals.Term);

        var code = await cluster.Launcher.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var console = cluster.Launcher.Output;
        output.WriteLine(console);
        Assert.Equal(0, code);
        await Eventually.Async(() => Task.FromResult(silos.All(Gone)), TimeSpan.FromSeconds(30), $"silo processes {string.Join(", ", silos)} gone with their launcher");
        Assert.NotEmpty(cluster.Launcher.Lines(@"^\[silo\d\] Stopped before it had finished starting\.$"));

        // Every line short: no stack frames (the console writes an exception's on the entry's own line), no unhandled
        // exception, no fail-fast, no silo that crashed or was killed.
        Assert.DoesNotMatch(@"\bat [\w.`]+\.\w+\(", console);
        Assert.DoesNotContain("Unhandled exception", console, StringComparison.Ordinal);
        Assert.DoesNotContain("FATAL", console, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", console, StringComparison.Ordinal);
        Assert.Empty(cluster.Launcher.Lines(@"Silo \d \(pid \d+\) (aborted|was killed|was ended by signal)"));
    }

    private static bool Gone(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}
