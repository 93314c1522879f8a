namespace Coordination.TestKit.Faults;

/// <summary>The faults the suite injects (Jepsen's nemeses) into a local cluster of real processes.</summary>
public enum FaultKind
{
    /// <summary>SIGKILL of a silo process; the launcher restarts it as a new, empty member whose replicas must recover.</summary>
    KillSilo,

    /// <summary>SIGSTOP of a silo for longer than the session TTL, then SIGCONT (by then the others declared it dead).</summary>
    PauseSilo,

    /// <summary>One silo cut off from all others (Orleans connections, replica and probe traffic).</summary>
    PartitionOne,

    /// <summary>Two silos cut from each other while a third still reaches both (a non-transitive bridge).</summary>
    PartitionBridge,

    /// <summary>Five silos or more: each silo reaches only its two ring neighbours, so every silo sees a majority none of whose members agree (Jepsen's majorities ring).</summary>
    PartitionRing,

    /// <summary>A silo's wall clock skewed by minutes to hours, or jumped; leases must not care.</summary>
    ClockSkew,

    /// <summary>SIGSTOP of a client process for longer than its TTL, then SIGCONT: it may write with its stale token, which the fenced resource must refuse.</summary>
    PauseClient,

    /// <summary>The silo that a pinned client's only gateway is on is cut off from the others for longer than the TTL: the client is alone with a minority.</summary>
    ClientMinority,

    /// <summary>A random minority of ⌊n/2⌋ silos cut off from the majority (Jepsen's majority partition; with three silos, one of them).</summary>
    PartitionHalves,

    /// <summary>
    /// SIGTERM of a silo: it leaves gracefully (waits until its partitions keep a caught-up majority without
    /// it, announces its drain, replicas move off), and the launcher starts it again as a new, empty member
    /// that joins and gets replicas: a membership change out and in.
    /// </summary>
    RestartSilo,
}

/// <summary>One injected fault: what, where, and when it started and healed (Stopwatch ticks).</summary>
public sealed record FaultEvent(FaultKind Kind, string Target, long Started, long Healed);

/// <summary>Injects faults into a <see cref="LocalClusterProcess"/> started with fault injection on, and heals them.</summary>
public sealed class Nemesis(LocalClusterProcess cluster, IReadOnlyList<ChildProcess> clients, int pinnedSilo, double ttlSeconds, Random random)
{
    private readonly HashSet<int> _stoppedPids = [];
    private readonly Queue<int> _silos = new();

    /// <summary>Client processes that were ever paused: their view of time is unreliable, so only fencing checks their work.</summary>
    public HashSet<int> PausedClients { get; } = [];

    public async Task<FaultEvent> InjectAsync(FaultKind kind, CancellationToken cancellationToken)
    {
        var n = cluster.Silos;
        var silo = NextSilo();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var beyondTtl = TimeSpan.FromSeconds(ttlSeconds + 1 + (random.NextDouble() * 3));
        var brief = TimeSpan.FromSeconds(3 + (random.NextDouble() * 5));
        string target;
        switch (kind)
        {
            case FaultKind.KillSilo:
                target = $"silo{silo}";
                Signals.Send(await cluster.PidOfAsync(silo), Signals.Kill);
                break;
            case FaultKind.PauseSilo:
                target = $"silo{silo}";
                await PauseAsync(await cluster.PidOfAsync(silo), beyondTtl, cancellationToken);
                break;
            case FaultKind.PartitionOne:
                target = $"silo{silo} | rest";
                await CutAsync(Enumerable.Range(0, n).Where(i => i != silo).Select(i => (silo, i)), brief, cancellationToken);
                break;
            case FaultKind.PartitionBridge:
                var other = (silo + 1 + random.Next(n - 1)) % n;
                target = $"silo{silo} x silo{other}";
                await CutAsync([(silo, other)], brief, cancellationToken);
                break;
            case FaultKind.PartitionRing:
                target = "ring";
                await CutAsync(
                    from a in Enumerable.Range(0, n)
                    from b in Enumerable.Range(0, n)
                    where a < b && (b - a) % n is not 1 && (a - b + n) % n is not 1
                    select (a, b),
                    brief,
                    cancellationToken);
                break;
            case FaultKind.ClockSkew:
                var offset = random.Next(3) switch
                {
                    0 => TimeSpan.FromMinutes(random.Next(-120, 120)),
                    1 => TimeSpan.FromHours(random.Next(1, 48)),
                    _ => TimeSpan.FromSeconds(-random.Next(1, 3600)),
                };
                target = $"silo{silo} clock {(offset < TimeSpan.Zero ? "-" : "+")}{offset.Duration():d\\.hh\\:mm\\:ss}";
                await cluster.SkewClockAsync(silo, offset);
                await Task.Delay(brief, cancellationToken);
                await cluster.SkewClockAsync(silo, TimeSpan.Zero);
                break;
            case FaultKind.PauseClient:
                var client = random.Next(clients.Count);
                target = $"client{client}";
                PausedClients.Add(client);
                await PauseAsync(clients[client].Pid, beyondTtl, cancellationToken);
                break;
            case FaultKind.ClientMinority:
                target = $"silo{pinnedSilo} (+client0) | rest";
                await CutAsync(Enumerable.Range(0, n).Where(i => i != pinnedSilo).Select(i => (pinnedSilo, i)), beyondTtl + TimeSpan.FromSeconds(2), cancellationToken);
                break;
            case FaultKind.PartitionHalves:
                var minority = Enumerable.Range(0, n).OrderBy(_ => random.Next()).Take(n / 2).ToHashSet();
                target = $"{string.Join(",", minority.Order().Select(i => $"silo{i}"))} | rest";
                await CutAsync(from a in minority from b in Enumerable.Range(0, n).Where(i => !minority.Contains(i)) select (a, b), brief, cancellationToken);
                break;
            case FaultKind.RestartSilo:
                target = $"silo{silo}";
                var leaving = await cluster.PidOfAsync(silo);
                Signals.Send(leaving, Signals.Term);

                // Until it is gone, it still counts as ready; the next fault must wait for its replacement instead.
                // The silo host allows a shutdown up to 2 minutes (drain, then deactivations and calls in flight).
                await WaitForExitAsync(leaving, $"silo{silo}", TimeSpan.FromMinutes(2.5), cancellationToken);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }

        return new FaultEvent(kind, target, started, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>Undoes every fault still in place: continues stopped processes, heals every cut, resets every clock.</summary>
    public async Task HealAllAsync()
    {
        foreach (var pid in _stoppedPids)
        {
            TrySignal(pid, Signals.Continue);
        }

        _stoppedPids.Clear();
        for (var i = 0; i < cluster.Silos; i++)
        {
            await cluster.PartitionAsync(i, []);
            await cluster.SkewClockAsync(i, TimeSpan.Zero);
        }
    }

    /// <summary>Victims in shuffled rounds: every silo is hit once before any is hit twice.</summary>
    private int NextSilo()
    {
        if (_silos.Count == 0)
        {
            foreach (var i in Enumerable.Range(0, cluster.Silos).OrderBy(_ => random.Next()))
            {
                _silos.Enqueue(i);
            }
        }

        return _silos.Dequeue();
    }

    private async Task PauseAsync(int pid, TimeSpan duration, CancellationToken cancellationToken)
    {
        _stoppedPids.Add(pid);
        Signals.Send(pid, Signals.Stop);
        try
        {
            await Task.Delay(duration, cancellationToken);
        }
        finally
        {
            TrySignal(pid, Signals.Continue);
            _stoppedPids.Remove(pid);
        }
    }

    /// <summary>Cuts each pair (telling both sides), holds the cut, heals it.</summary>
    private async Task CutAsync(IEnumerable<(int A, int B)> pairs, TimeSpan duration, CancellationToken cancellationToken)
    {
        var blocked = new Dictionary<int, HashSet<int>>();
        foreach (var (a, b) in pairs)
        {
            (blocked.TryGetValue(a, out var x) ? x : blocked[a] = []).Add(b);
            (blocked.TryGetValue(b, out var y) ? y : blocked[b] = []).Add(a);
        }

        foreach (var (silo, peers) in blocked)
        {
            await cluster.PartitionAsync(silo, peers);
        }

        try
        {
            await Task.Delay(duration, cancellationToken);
        }
        finally
        {
            foreach (var silo in blocked.Keys)
            {
                await cluster.PartitionAsync(silo, []);
            }
        }
    }

    /// <summary>Polls until process <paramref name="pid"/> is gone (its parent, the launcher, reaps it).</summary>
    private static async Task WaitForExitAsync(int pid, string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        while (Directory.Exists($"/proc/{pid}"))
        {
            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{name} (pid {pid}) did not stop within {timeout.TotalSeconds:0} s of SIGTERM.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    private static void TrySignal(int pid, int signal)
    {
        try
        {
            Signals.Send(pid, signal);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
