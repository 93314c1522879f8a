using System.Diagnostics;
using System.Runtime.InteropServices;
using Coordination.Replication.Configuration;
using Coordination.Silo.Configuration;
using Coordination.Silo.LocalClustering;
using Coordination.Silo.SiloHost;

namespace Coordination.Silo.Launcher;

/// <summary>
/// The local cluster: N silo processes on loopback sharing a file membership table and metadata store (so any one,
/// the first included, can die), restarted when they exit on their own, plus the dashboard and page it serves itself.
/// </summary>
internal sealed partial class LocalClusterLauncher(IConfiguration configuration, string config, IReadOnlyList<string> overrides, ILogger logger, TimeProvider time)
{
    private const int SigTerm = 15;
    private readonly SiloHostOptions _host = HostConfiguration.Bind(configuration);
    private readonly List<SiloChild> _silos = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private bool _stopping;

    public IReadOnlyList<SiloChild> Silos => _silos;

    public SiloHostOptions Host => _host;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (_host.Clustering != ClusteringMode.Local)
        {
            throw new SiloConfigurationException($"The launcher runs the local cluster ({SiloHostOptions.Section}:Clustering = Local). For {_host.Clustering}, start one silo per machine: Coordination.Silo silo --index N --config <file>.");
        }

        // Started by a test or benchmark process (ParentProcessId): stops with its silos once that process is gone.
        using var stop = ParentProcess.StopWith(_host.ParentProcessId, time, () => LogParentGone(logger, _host.ParentProcessId!.Value), cancellationToken);
        cancellationToken = stop.Token;

        var dir = _host.FullDataDirectory;
        Directory.CreateDirectory(dir);
        FileStream launcherLock;
        try
        {
            // Held for the launcher's life: a second launcher on this data directory fails here, before it touches anything.
            launcherLock = new FileStream(Path.Combine(dir, LocalFiles.Launcher), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new SiloConfigurationException($"Another launcher is running with {dir}. Stop it first, or choose another {SiloHostOptions.Section}:DataDirectory.");
        }

        await using var _ = launcherLock;
        WebApplication? dashboard = null;
        try
        {
            DashboardHost.EnsurePortFree(_host);
            await StartFreshAsync(dir, cancellationToken);
            for (var i = 0; i < _host.Silos; i++)
            {
                _silos.Add(new SiloChild(i));
                Start(_silos[i]);
            }

            await WaitForAsync("/health/live", TimeSpan.FromSeconds(90), cancellationToken);
            dashboard = await DashboardHost.StartAsync(this, configuration, cancellationToken);
            await WaitForAsync("/health/ready", TimeSpan.FromSeconds(90), cancellationToken);
            Banner();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C, or the parent process gone: fall through to a graceful stop.
        }
        finally
        {
            if (dashboard is not null)
            {
                // Stopped, not only disposed: its Orleans client must leave while its container still serves it.
                await dashboard.StopAsync(CancellationToken.None);
                await dashboard.DisposeAsync();
            }

            await StopAllAsync();
        }

        return 0;
    }

    /// <summary>
    /// A new local cluster: a fresh membership table, and, if metadata survives from an earlier run whose
    /// silos are all gone, an audited restart of every partition under a bumped cluster epoch.
    /// </summary>
    private async Task StartFreshAsync(string dir, CancellationToken cancellationToken)
    {
        var membership = new FileMembershipTable(Path.Combine(dir, LocalFiles.Membership));
        var running = new List<string>();
        foreach (var (entry, _) in (await membership.ReadAll()).Members.Where(m => m.Item1.Status != SiloStatus.Dead))
        {
            // A row says Active (or Joining) even after a crash: only a silo that still accepts connections is running.
            // A dead silo's loopback port refuses at once; the timeout only bounds an address that does not answer,
            // and is long enough that a busy machine does not take a running silo for a dead one.
            using var probe = new System.Net.Sockets.TcpClient();
            try
            {
                await probe.ConnectAsync(entry.SiloAddress.Endpoint, cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
                running.Add($"{entry.SiloName} at {entry.SiloAddress.Endpoint}");
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
            {
                // Gone.
            }
        }

        if (running.Count > 0)
        {
            throw new SiloConfigurationException($"Silos [{string.Join(", ", running)}] of a local cluster using {dir} are still running. Stop that cluster first, or choose another {SiloHostOptions.Section}:DataDirectory.");
        }

        File.Delete(Path.Combine(dir, LocalFiles.Membership));
        var store = new FileClusterMetadataStore(Path.Combine(dir, LocalFiles.Metadata));
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var current = await store.ReadAsync(cancellationToken);
            if (current is null)
            {
                return;
            }

            var audit = new AuditEntry(time.GetUtcNow(), $"launcher pid {Environment.ProcessId}", "restart-all", "local cluster started: the previous run's in-memory replicas are gone", 0, []);
            var next = ConfigurationPlanner.RestartAll(current, audit);
            if (await store.TryWriteAsync(current.Version, next, cancellationToken))
            {
                LogRestarted(logger, next.ClusterEpoch);
                return;
            }
        }
    }

    private void Start(SiloChild silo)
    {
        var (file, prefix) = SelfCommand();
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var args = prefix
            .Concat(["silo", "--index", silo.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), "--config", HostConfiguration.ResolveConfigPath(config)])
            .Concat(overrides)
            .Append($"--{SiloHostOptions.Section}:DataDirectory={_host.FullDataDirectory}")
            .Append($"--{SiloHostOptions.Section}:ParentProcessId={Environment.ProcessId}");
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Forward(silo, e.Data);
        process.ErrorDataReceived += (_, e) => Forward(silo, e.Data);
        process.Exited += (_, _) => OnExited(silo, process);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        silo.Process = process;
        silo.StartedAt = time.GetUtcNow();
        LogStarted(logger, silo.Index, process.Id);
    }

    private void OnExited(SiloChild silo, Process process)
    {
        if (_stopping || silo.Process != process)
        {
            return;
        }

        LogExited(logger, silo.Index, process.Id, SiloExitCodes.Describe(process.ExitCode));
        if (!_host.RestartFailedSilos)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            await Task.Delay(_host.RestartDelay, time);
            if (!_stopping && silo.Process == process)
            {
                silo.Restarts++;
                Start(silo);
            }
        });
    }

    private static void Forward(SiloChild silo, string? line)
    {
        if (line is not null)
        {
            Console.Out.WriteLine($"[silo{silo.Index}] {line}");
        }
    }

    /// <summary>How to start this same program again: its app host, or dotnet with its assembly.</summary>
    private static (string File, string[] Prefix) SelfCommand()
    {
        var processPath = Environment.ProcessPath ?? "dotnet";
        var assembly = typeof(LocalClusterLauncher).Assembly.Location;
        return Path.GetFileNameWithoutExtension(processPath) == "dotnet" ? (processPath, [assembly]) : (processPath, []);
    }

    private async Task WaitForAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        foreach (var silo in _silos)
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    var response = await _http.GetAsync(new Uri($"{_host.HttpLocalUrl(_host.HealthPort(silo.Index))}{path}"), cancellationToken);
                    if (response.IsSuccessStatusCode)
                    {
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // Slow to answer while starting.
                }

                if (time.GetElapsedTime(started) > timeout)
                {
                    throw new TimeoutException($"Silo {silo.Index} did not answer {path} within {timeout}; see its output above.");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
            }
        }
    }

    private void Banner()
    {
        var a = _host.ListenAddress;
        var web = _host.HttpLocalUrl(_host.DashboardPort);
        Console.Out.WriteLine($"""

            Coordination local cluster is up: {_host.Silos} silos, replication factor from silo-config.
              gateways          {string.Join(", ", _silos.Select(s => $"{a}:{_host.GatewayPort(s.Index)}"))}
              dashboard         {web}/dashboard
              coordination page {web}/{(string.IsNullOrEmpty(_host.HttpToken) ? string.Empty : $"   (HTTP needs the token of {SiloHostOptions.Section}:HttpToken)")}
              silos             {string.Join(", ", _silos.Select(s => $"silo{s.Index} pid {s.Pid} (health {_host.HttpLocalUrl(_host.HealthPort(s.Index))}/health/ready)"))}
              data              {_host.FullDataDirectory}
            Kill any silo: the cluster keeps working and this launcher restarts it. Ctrl+C stops everything.
            COORDINATION-READY
            """);
    }

    private async Task StopAllAsync()
    {
        _stopping = true;
        var running = _silos.Select(s => s.Process).OfType<Process>().Where(p => !p.HasExited).ToList();
        running.ForEach(p => Kill(p.Id, SigTerm));
        using var grace = new CancellationTokenSource(SiloChild.StopGrace);
        foreach (var p in running)
        {
            try
            {
                await p.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
            }
        }

        _http.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "AUDIT: local cluster restarted; cluster epoch is now {Epoch} (fencing tokens stay above every earlier one)")]
    private static partial void LogRestarted(ILogger logger, long epoch);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Started silo {Index} as pid {Pid}")]
    private static partial void LogStarted(ILogger logger, int index, int pid);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Silo {Index} (pid {Pid}) {How}")]
    private static partial void LogExited(ILogger logger, int index, int pid, string how);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "The process that started this cluster (pid {Pid}) is gone; stopping")]
    private static partial void LogParentGone(ILogger logger, int pid);
}
