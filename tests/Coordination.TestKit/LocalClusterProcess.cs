using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Client;

namespace Coordination.TestKit;

/// <summary>
/// The local cluster started as the README does (the silo program with no command: three silo processes
/// and the dashboard), on free ports and a temporary data directory, with test timings: failure detection
/// 3 s, so sessions of 6 s are allowed.
/// </summary>
public sealed class LocalClusterProcess : IAsyncDisposable
{
    public const double TtlSeconds = 6;

    private static readonly string[] TestTimings =
    [
        "--Coordination:FailureDetectionTime=00:00:03",
        "--Coordination:Host:Probes=Ci",
        "--Coordination:SafetyMargin=00:00:00.5",
        "--Coordination:Replication:PartitionCount=16",
        "--Coordination:Replication:DrainTimeout=00:00:20",
    ];

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private LocalClusterProcess(ChildProcess launcher, string clusterId, int silos, int siloBase, int gatewayBase, int healthBase, int dashboardPort, string dataDirectory)
    {
        Silos = silos;
        Launcher = launcher;
        ClusterId = clusterId;
        SiloPortBase = siloBase;
        GatewayPortBase = gatewayBase;
        HealthPortBase = healthBase;
        DashboardPort = dashboardPort;
        DataDirectory = dataDirectory;
    }

    public ChildProcess Launcher { get; }

    /// <summary>How many silo processes (3 unless <c>--Coordination:Host:Silos=N</c> was given).</summary>
    public int Silos { get; }

    public string ClusterId { get; }

    public int SiloPortBase { get; }

    public int GatewayPortBase { get; }

    public int HealthPortBase { get; }

    public int DashboardPort { get; }

    public string DataDirectory { get; }

    public int[] GatewayPorts => [.. Enumerable.Range(GatewayPortBase, Silos)];

    public static Task<LocalClusterProcess> StartAsync(params string[] extra) => StartAsync(testTimings: true, extra);

    /// <param name="testTimings">Scale failure detection and sessions down for tests; false keeps silo-config/local.json as a user gets it.</param>
    public static async Task<LocalClusterProcess> StartAsync(bool testTimings, params string[] extra)
    {
        var cluster = Launch(testTimings, extra);
        try
        {
            await cluster.Launcher.WaitForLineAsync("COORDINATION-READY", TimeSpan.FromSeconds(120));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>Starts the launcher and returns at once, while its silos are still starting.</summary>
    public static LocalClusterProcess Launch(bool testTimings, params string[] extra)
    {
        const string SilosSetting = "--Coordination:Host:Silos=";
        var silos = extra.LastOrDefault(a => a.StartsWith(SilosSetting, StringComparison.Ordinal)) is { } given ? int.Parse(given[SilosSetting.Length..], System.Globalization.CultureInfo.InvariantCulture) : 3;
        var ports = Ports.FreeBlock((3 * silos) + 1);
        var clusterId = $"coord-test-{Guid.NewGuid():N}";
        var dir = Path.Combine(Path.GetTempPath(), clusterId);
        string[] args =
        [
            $"--Coordination:Host:ClusterId={clusterId}",
            $"--Coordination:Host:SiloPortBase={ports}",
            $"--Coordination:Host:GatewayPortBase={ports + silos}",
            $"--Coordination:Host:HealthPortBase={ports + (2 * silos)}",
            $"--Coordination:Host:DashboardPort={ports + (3 * silos)}",
            $"--Coordination:Host:DataDirectory={dir}",
            "--Coordination:Host:RestartDelay=00:00:00.5",

            // A test or benchmark process that dies (killed, timed out) takes its cluster with it.
            $"--Coordination:Host:ParentProcessId={Environment.ProcessId}",
            .. testTimings ? TestTimings : [],
            .. extra,
        ];
        var launcher = ChildProcess.Start("launcher", Repo.SiloDll, args);
        return new LocalClusterProcess(launcher, clusterId, silos, ports, ports + silos, ports + (2 * silos), ports + (3 * silos), dir);
    }

    public Uri Dashboard(string path) => new($"http://127.0.0.1:{DashboardPort}{path}");

    /// <summary>The launcher's JSON answer to GET <paramref name="path"/> (the dashboard's and the coordination API).</summary>
    public Task<JsonElement> DashboardJsonAsync(string path) => _http.GetFromJsonAsync<JsonElement>(Dashboard(path));

    /// <summary>The launcher's view of its silo processes.</summary>
    public async Task<(int Index, int? Pid, int Restarts)[]> SilosAsync()
    {
        var doc = await DashboardJsonAsync("/api/cluster");
        return [.. doc.GetProperty("silos").EnumerateArray().Select(s => (
            s.GetProperty("index").GetInt32(),
            s.GetProperty("pid").ValueKind == JsonValueKind.Number ? s.GetProperty("pid").GetInt32() : (int?)null,
            s.GetProperty("restarts").GetInt32()))];
    }

    public async Task<int> PidOfAsync(int index) =>
        (await SilosAsync()).Single(s => s.Index == index).Pid ?? throw new InvalidOperationException($"silo{index} is not running");

    /// <summary>Which silo index a silo address belongs to (by its port).</summary>
    public int IndexOf(SiloAddress silo) => silo.Endpoint.Port - SiloPortBase;

    /// <summary>True when silo <paramref name="index"/> reports ready: active, caught up and the cluster fully redundant.</summary>
    public async Task<bool> IsReadyAsync(int index)
    {
        try
        {
            return (await _http.GetAsync(new Uri($"http://127.0.0.1:{HealthPortBase + index}/health/ready"))).IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>Silo <paramref name="index"/>'s readiness report (<c>/health/ready</c>, whether ready or not).</summary>
    public async Task<JsonElement> ReadinessAsync(int index)
    {
        using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{HealthPortBase + index}/health/ready"));
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Silo <paramref name="index"/>'s probe view (<c>/api/membership</c>), or null if it does not answer.</summary>
    public async Task<ProbeView?> MembershipAsync(int index)
    {
        try
        {
            return await _http.GetFromJsonAsync<ProbeView>(new Uri($"http://127.0.0.1:{HealthPortBase + index}/api/membership"), JsonOptions);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Silo <paramref name="index"/>'s own id and Orleans' membership as it sees it (<c>/api/orleans-membership</c>), or null if it does not answer.</summary>
    public async Task<(string Self, Dictionary<string, string> Status)?> OrleansMembershipAsync(int index)
    {
        try
        {
            var view = await _http.GetFromJsonAsync<OrleansMembershipView>(new Uri($"http://127.0.0.1:{HealthPortBase + index}/api/orleans-membership"), JsonOptions);
            return view is null ? null : (view.Self, view.Members.ToDictionary(m => m.Member, m => m.Status));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Waits until every silo is ready. With <paramref name="settle"/>: ready, and no silo's probe view suspecting
    /// anyone, without a break for that long (a suspicion left over from a healed partition can still end in a
    /// death after every silo looked ready; the next fault must not come on top of it).
    /// </summary>
    public async Task WaitAllReadyAsync(TimeSpan timeout, TimeSpan? settle = null)
    {
        long? settledSince = null;
        try
        {
            await Eventually.Async(
                async () =>
                {
                    var ok = true;
                    for (var i = 0; i < Silos && ok; i++)
                    {
                        ok = await IsReadyAsync(i) && (settle is null || !await SuspectsAnyoneAsync(i));
                    }

                    if (!ok)
                    {
                        settledSince = null;
                        return false;
                    }

                    settledSince ??= System.Diagnostics.Stopwatch.GetTimestamp();
                    return settle is null || System.Diagnostics.Stopwatch.GetElapsedTime(settledSince.Value) >= settle.Value;
                },
                timeout,
                $"all {Silos} silos ready (active, caught up, fully redundant){(settle is null ? string.Empty : $" and no suspicions, for {settle.Value.TotalSeconds:0.#} s")}");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n{await DescribeReadinessAsync()}", ex);
        }
    }

    /// <summary>True when silo <paramref name="index"/>'s probe view has a member under suspicion (or the silo does not answer).</summary>
    public async Task<bool> SuspectsAnyoneAsync(int index) =>
        await MembershipAsync(index) is not { } view || view.Members.Any(m => m.Status == "Suspect");

    /// <summary>Each silo's readiness report (why it is not ready), for failure messages.</summary>
    public async Task<string> DescribeReadinessAsync()
    {
        var lines = new List<string>();
        for (var i = 0; i < Silos; i++)
        {
            try
            {
                using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{HealthPortBase + i}/health/ready"));
                lines.Add($"silo{i}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                lines.Add($"silo{i}: no answer ({ex.Message})");
            }
        }

        return string.Join("\n", lines);
    }

    /// <summary>Fault injection (<c>--Coordination:Host:FaultInjection=true</c>): cuts silo <paramref name="index"/> off from <paramref name="blocked"/> (an empty list heals it). Tell both sides.</summary>
    public async Task<bool> PartitionAsync(int index, IEnumerable<int> blocked) =>
        await PostAsync(index, "/api/faults/partition", new { blocked = blocked.ToArray() });

    /// <summary>Fault injection: sets silo <paramref name="index"/>'s wall clock to the system's plus <paramref name="offset"/>.</summary>
    public async Task<bool> SkewClockAsync(int index, TimeSpan offset) =>
        await PostAsync(index, "/api/faults/clock", new { offsetMs = offset.TotalMilliseconds });

    /// <summary>Fault injection: silo <paramref name="index"/>'s next graceful stop waits <paramref name="delay"/> before it leaves the cluster.</summary>
    public async Task<bool> SlowStopAsync(int index, TimeSpan delay) =>
        await PostAsync(index, "/api/faults/stop", new { delayMs = delay.TotalMilliseconds });

    private async Task<bool> PostAsync(int index, string path, object body)
    {
        try
        {
            return (await _http.PostAsJsonAsync(new Uri($"http://127.0.0.1:{HealthPortBase + index}{path}"), body)).IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!Launcher.HasExited)
        {
            Launcher.Signal(Signals.Term);
            try
            {
                await Launcher.WaitForExitAsync(TimeSpan.FromSeconds(60));
            }
            catch (OperationCanceledException)
            {
                // Killed below.
            }
        }

        await Launcher.DisposeAsync();
        _http.Dispose();
        foreach (var leftover in System.Diagnostics.Process.GetProcesses().Where(p => SafeCommandLine(p).Contains(ClusterId, StringComparison.Ordinal)))
        {
            leftover.Kill(entireProcessTree: true);
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private static string SafeCommandLine(System.Diagnostics.Process p)
    {
        try
        {
            return File.ReadAllText($"/proc/{p.Id}/cmdline");
        }
        catch (Exception)
        {
            return string.Empty;
        }
    }
}

/// <summary>One silo's probe view as <c>/api/membership</c> serves it.</summary>
public sealed record ProbeView(string Self, bool Enabled, int LocalHealth, long MessagesSent, long MessagesReceived, long SuspicionsRaised, long DeathsDeclared, long Stalls, ProbeMember[] Members)
{
    public ProbeMember? this[string member] => Members.FirstOrDefault(m => m.Member == member);
}

/// <summary>What one silo's probe view says about a member.</summary>
public sealed record ProbeMember(string Member, string Status, long Incarnation, long Heartbeat, double? SuspectedForMs, double? SuspicionDeadlineInMs, int Confirmations, double? RoundTripMs, string OrleansStatus, bool IsSelf);
