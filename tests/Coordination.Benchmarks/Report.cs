using System.Globalization;
using System.Text;

namespace Coordination.Benchmarks;

/// <summary>One system's figures: the four scenarios, and what its servers spent while nobody used them.</summary>
internal sealed record Row(string System, ScenarioResult Seq, ScenarioResult Fresh, ScenarioResult Par16, ScenarioResult Contended8, ServerCost Idle, TimeSpan IdleWindow)
{
    public IEnumerable<ScenarioResult> Scenarios => [Seq, Fresh, Par16, Contended8];

    /// <summary>Server CPU while idle, as a fraction of one core.</summary>
    public double IdleCores => Idle.Cpu / IdleWindow;
}

/// <summary>The default command's report: one table of every system measured in this run, then ours against each peer as ratios.</summary>
internal sealed class Report
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    public List<Row> Rows { get; } = [];

    public List<string> Notes { get; } = [];

    /// <summary>The load each system had before its timed parts.</summary>
    public TimeSpan WarmUp { get; init; }

    public List<TimeSpan> Failovers { get; set; } = [];

    public List<TimeSpan> DeadClients { get; set; } = [];

    public List<TimeSpan> LeaderFailovers { get; set; } = [];

    public List<TimeSpan> EtcdLeaderFailovers { get; set; } = [];

    public HeldLocks.Result? Held { get; set; }

    /// <summary>Two no-op grain calls per pair through our client and silos, without and with a replica round trip each, in rounds with our lock (<see cref="TransportFloorBackend.CompareAsync"/>).</summary>
    public FloorComparison? Floors { get; set; }

    public string ToMarkdown(bool quick)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Ci, $"## Lock benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores{(quick ? " (QUICK smoke run: do not quote)" : string.Empty)}");
        sb.AppendLine();
        sb.AppendLine("An operation is one acquire+release pair. Latencies are p50 / p99 / p99.9 of a pair in ms; server CPU and messages are per operation, for seq / fresh / par16 / contended8. fresh is seq with a new lock name for every pair (a lock per entity).");
        sb.AppendLine();
        sb.AppendLine("| system | seq ops/s | seq latency | fresh ops/s | fresh latency | par16 ops/s | par16 latency | contended8 handoffs/s | contended8 latency | server CPU per op (ms) | messages per op (client↔silo + silo↔silo) | idle server CPU |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in Rows)
        {
            sb.AppendLine(Ci, $"| {r.System} | {r.Seq.OpsPerSecond:N0} | {Latency(r.Seq)} | {r.Fresh.OpsPerSecond:N0} | {Latency(r.Fresh)} | {r.Par16.OpsPerSecond:N0} | {Latency(r.Par16)} | {r.Contended8.OpsPerSecond:N0} | {Latency(r.Contended8)} | {string.Join(" / ", r.Scenarios.Select(s => Ms(s.CpuPerOp)))} | {Messages(r)} | {r.IdleCores * 100:0.0} % of a core |");
        }

        var ours = Rows.LastOrDefault(r => r.System.StartsWith("Coordination", StringComparison.Ordinal));
        if (ours is not null && Rows.Count > 1)
        {
            sb.AppendLine();
            sb.AppendLine("Ratios, Coordination ÷ peer (throughput: above 1 is better; p99 and CPU per op: below 1 is better):");
            sb.AppendLine();
            sb.AppendLine("| peer | seq ops/s | seq p99 | fresh ops/s | fresh p99 | par16 ops/s | par16 p99 | contended8 | contended8 p99 | CPU/op seq | CPU/op fresh | CPU/op par16 | CPU/op contended8 |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var peer in Rows.Where(r => r != ours))
            {
                var cells = ours.Scenarios.Zip(peer.Scenarios, (o, p) => $"{Ratio(o.OpsPerSecond, p.OpsPerSecond)} | {Ratio(o.P99.TotalMilliseconds, p.P99.TotalMilliseconds)}");
                var cpu = ours.Scenarios.Zip(peer.Scenarios, (o, p) => Ratio(o.CpuPerOp.TotalMilliseconds, p.CpuPerOp.TotalMilliseconds));
                sb.AppendLine(Ci, $"| {peer.System} | {string.Join(" | ", cells)} | {string.Join(" | ", cpu)} |");
            }
        }

        sb.AppendLine();
        sb.AppendLine("What is counted:");
        sb.AppendLine("- Clients run in this benchmark process; every server runs in processes of its own (ours: the silo processes the local-cluster launcher starts).");
        sb.AppendLine(Ci, $"- Every system had {WarmUp.TotalSeconds:0} s of the same mixed load (seq, fresh names, par16, contended8) before its timed parts; the timed parts are {string.Join(" / ", Rows.FirstOrDefault()?.Scenarios.Select(s => s.Pairs.ToString("N0", Ci)) ?? [])} pairs (seq / fresh / par16 / contended8).");
        sb.AppendLine("- Each timed part starts once the servers spend under half a core (at most 20 s of waiting), so what the warm-up or the scenario before left behind (names retiring, compaction) is not charged to it; a scenario's own deferred work within its window is.");
        sb.AppendLine("- Server CPU: user + system time from /proc/PID/stat of each server's process tree (children reaped meanwhile included), read just before and after the timed part of each scenario. etcd: every member; Redis: redis-server; PostgreSQL: the postmaster with every backend and background worker (its children); ours: the silo processes, not the launcher (supervisor and dashboard host, outside the request path).");
        sb.AppendLine("- Messages (ours only): Orleans messages on the silos' connections and frames on their direct replica and client lane connections, counted by the silos (/api/metrics, \"orleans.messages\"): client↔silo both ways, counted by the gateway silo; silo↔silo counted once, by the sender. Calls between grains of one silo are not messages. The window includes background traffic (membership, the dashboard's Orleans client in the launcher, session keepalives).");
        if (ours is { Seq.Cost.AllocatedBytes: not null })
        {
            sb.AppendLine(Ci, $"- Managed allocations (ours, all silos, GC.GetTotalAllocatedBytes) per operation, seq / fresh / par16 / contended8: {string.Join(" / ", ours.Scenarios.Select(s => string.Create(Ci, $"{s.Cost.AllocatedBytes / 1024.0 / s.Pairs:0.0}")))} KiB.");
        }

        sb.AppendLine(Ci, $"- Client CPU per operation (ms; this process's own user + system time over the timed part: the system's client library and the loop around it, the same loop for every system), seq / fresh / par16 / contended8: {string.Join("; ", Rows.Select(r => $"{r.System} {string.Join(" / ", r.Scenarios.Select(s => Ms(s.ClientCpuPerOp)))}"))}.");
        sb.AppendLine(Ci, $"- Idle: the servers' CPU over {ours?.IdleWindow.TotalSeconds ?? Rows.FirstOrDefault()?.IdleWindow.TotalSeconds ?? 0:0} s with no client session open, 25 s after the last scenario (our names retire 5 s after their last use, and their deletions' tail is over by 20 s){IdleMessages(ours)}.");
        AppendFloor(sb);
        AppendHeld(sb, ours);
        AppendFailovers(sb);
        foreach (var note in Notes)
        {
            sb.AppendLine(Ci, $"- {note}");
        }

        return sb.ToString();
    }

    private void AppendFailovers(StringBuilder sb)
    {
        if (Failovers.Count > 0)
        {
            sb.AppendLine(Ci, $"- Coordination, SIGKILL of the silo hosting a lock's grain → next grant: median {Median(Failovers).TotalSeconds:0.00} s, max {Failovers.Max().TotalSeconds:0.00} s over {Failovers.Count} trials (Orleans membership `Fast` preset declares the silo dead).");
        }

        if (DeadClients.Count > 0)
        {
            sb.AppendLine(Ci, $"- Coordination, SIGKILL of the client process holding a lock (session TTL 10 s) → another client's grant: median {Median(DeadClients).TotalSeconds:0.00} s over {DeadClients.Count} trials.");
        }

        if (LeaderFailovers.Count > 0)
        {
            var etcd = EtcdLeaderFailovers.Count > 0
                ? string.Create(Ci, $"; etcd election (one member, dotnet-etcd Campaign, lease TTL 10 s): median {Median(EtcdLeaderFailovers).TotalSeconds:0.00} s, max {EtcdLeaderFailovers.Max().TotalSeconds:0.00} s; ratio {Median(LeaderFailovers).TotalSeconds / Median(EtcdLeaderFailovers).TotalSeconds:0.00}×")
                : " (etcd not measured)";
            sb.AppendLine(Ci, $"- Leader failover, SIGKILL of the leader's process with a candidate waiting → candidate elected: Coordination (session TTL 10 s) median {Median(LeaderFailovers).TotalSeconds:0.00} s, max {LeaderFailovers.Max().TotalSeconds:0.00} s over {LeaderFailovers.Count} trials{etcd}.");
        }
    }

    private void AppendFloor(StringBuilder sb)
    {
        if (Floors is not { } floors)
        {
            return;
        }

        var postgres = Rows.FirstOrDefault(r => r.System.StartsWith("PostgreSQL", StringComparison.Ordinal));
        sb.AppendLine(Ci, $"- Floors (our client and silos, each pair two no-op grain calls answered by the gateway silo, a stateless worker: no directory, no register; the transport floor is Orleans' messaging alone, the floor through a replica adds one round trip from the gateway to another silo's replica per call, the least a change replicated to two of three needs), in {floors.Seq.Count} round{(floors.Seq.Count == 1 ? string.Empty : "s")} after the table's scenarios, each round the transport floor, the floor through a replica and our lock in turn, seconds apart; figures per round:");
        foreach (var (label, rounds, pg) in new[] { ("seq", floors.Seq, postgres?.Seq), ("par16", floors.Par16, postgres?.Par16) })
        {
            sb.AppendLine(Ci, $"  - {label}: transport floor {Each(rounds, r => r.Transport)}; through a replica {Each(rounds, r => r.Replica)}; our lock {Each(rounds, r => r.Ours)}; ours ÷ the floor through a replica {string.Join(" / ", rounds.Select(r => Ratio(r.Ours.OpsPerSecond, r.Replica.OpsPerSecond)))}{(pg is null ? string.Empty : $"; the floor through a replica ÷ PostgreSQL's {label} in this run {string.Join(" / ", rounds.Select(r => Ratio(r.Replica.OpsPerSecond, pg.OpsPerSecond)))}")}.");
        }
    }

    /// <summary>Each round's pairs/s, p99, server CPU and allocations per pair.</summary>
    private static string Each(IEnumerable<FloorRound> rounds, Func<FloorRound, ScenarioResult> pick) =>
        string.Join(" / ", rounds.Select(pick).Select(s => string.Create(Ci, $"{s.OpsPerSecond:N0} pairs/s (p99 {s.P99.TotalMilliseconds:0.00} ms, {Ms(s.CpuPerOp)} ms CPU, {s.Cost.AllocatedBytes / 1024.0 / s.Pairs:0.0} KiB)")));

    private void AppendHeld(StringBuilder sb, Row? ours)
    {
        if (Held is not { } h || ours is null)
        {
            return;
        }

        string Side(IReadOnlyList<ScenarioResult> beside, IReadOnlyList<ScenarioResult> before, ScenarioResult table)
        {
            var (rate, was) = (HeldLocks.Result.Rate(beside), HeldLocks.Result.Rate(before));
            return string.Create(Ci, $"{rate:N0} ops/s, {Ratio(rate, was)} the empty cluster's right before the take ({was:N0}; {Ratio(rate, table.OpsPerSecond)} the table's), rounds {string.Join(" / ", beside.Select(r => r.OpsPerSecond.ToString("N0", Ci)))} against {string.Join(" / ", before.Select(r => r.OpsPerSecond.ToString("N0", Ci)))}, p99 {string.Join(" / ", beside.Select(r => r.P99.TotalMilliseconds.ToString("0.00", Ci)))} against {string.Join(" / ", before.Select(r => r.P99.TotalMilliseconds.ToString("0.00", Ci)))} ms");
        }

        sb.AppendLine(Ci, $"- Coordination with {h.Held:N0} locks held at once by {h.Sessions} sessions (taken in {h.TakeTime.TotalSeconds:0.0} s), the scenarios run beside them on other names, {HeldLocks.Rounds} rounds each, after {HeldLocks.Settle.TotalSeconds:0} s of seq right after the take (which made {HeldLocks.Result.Rate(h.Settling):N0} ops/s, p99 of its rounds {h.Settling.Max(r => r.P99.TotalMilliseconds):0.00} ms at most), and right before the take on the same cluster: seq {Side(h.Seq, h.SeqBefore, ours.Seq)}; par16 {Side(h.Par16, h.ParBefore, ours.Par16)}. The silos' resident memory (all three) grew by {(h.RssHeld - h.RssBefore) / (1024.0 * 1024):N0} MiB: about {h.BytesPerLock:N0} bytes per held lock (three replicas each, plus the runtime's own growth).");
    }

    private static string IdleMessages(Row? ours) =>
        ours?.Idle is { ClientMessages: { } c, SiloMessages: { } s }
            ? string.Create(Ci, $"; our silos' idle messages: {c / ours.IdleWindow.TotalSeconds:0.0}/s client↔silo, {s / ours.IdleWindow.TotalSeconds:0.0}/s silo↔silo")
            : string.Empty;

    private static string Latency(ScenarioResult s) =>
        string.Create(Ci, $"{s.P50.TotalMilliseconds:0.00} / {s.P99.TotalMilliseconds:0.00} / {s.P999.TotalMilliseconds:0.00}");

    private static string Messages(Row r) =>
        r.Seq.ClientMessagesPerOp is null
            ? "—"
            : string.Join(" / ", r.Scenarios.Select(s => string.Create(Ci, $"{s.ClientMessagesPerOp:0.0} + {s.SiloMessagesPerOp:0.0}")));

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.000", Ci);

    private static string Ratio(double ours, double peer) => peer > 0 ? string.Create(Ci, $"{ours / peer:0.00}×") : "—";

    private static TimeSpan Median(List<TimeSpan> xs) => xs.Order().ElementAt(xs.Count / 2);
}
