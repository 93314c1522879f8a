using System.Globalization;
using System.Text;
using Coordination.TestKit.Faults;

namespace Coordination.Benchmarks;

/// <summary>
/// The long fault soak: consecutive seeded fault runs (a fresh cluster each, one history each, every checker
/// over it) until the total time is spent, and one report: operations, faults by type, histories checked,
/// violations, and the longest unavailability seen per fault type.
/// </summary>
internal static class FaultSoak
{
    public sealed record Result(string Markdown, int Violations);

    public static async Task<Result> RunAsync(TimeSpan duration, TimeSpan segment, int seed, int silos, IReadOnlyList<FaultKind> faults, string? unsafeControl, int elections, CancellationToken cancellationToken)
    {
        var reports = new List<FaultReport>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var run = 0; watch.Elapsed < duration && !cancellationToken.IsCancellationRequested; run++)
        {
            var left = duration - watch.Elapsed;
            var report = await FaultRun.RunAsync(new FaultRunOptions
            {
                Seed = seed + run,
                Duration = left < segment ? left : segment,
                Silos = silos,
                Faults = faults,
                Unsafe = unsafeControl,
                Elections = elections,
                Log = line => Console.Error.WriteLine(line),
            });
            Console.Error.WriteLine(report.ToMarkdown());
            reports.Add(report);
        }

        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var violations = reports.Sum(r => r.Violations);
        sb.AppendLine(ci, $"## Fault soak, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores: {watch.Elapsed:hh\\:mm\\:ss}, seeds {seed}–{seed + reports.Count - 1}{(unsafeControl is null ? string.Empty : $", BROKEN ON PURPOSE: {unsafeControl}")}");
        sb.AppendLine();
        sb.AppendLine(ci, $"{silos} silos, 4 client processes (lock-set on a fenced resource: 3 locks, {elections} election(s)), TTL 6 s. Histories checked: {reports.Count}. Operations: {reports.Sum(r => r.Operations)}; grants: {reports.Sum(r => r.Grants)}; fenced writes accepted: {reports.Sum(r => r.Writes)}. **Violations: {violations}.**");
        sb.AppendLine();
        sb.AppendLine("| fault | injected | longest unavailability (any run) |");
        sb.AppendLine("|---|---|---|");
        foreach (var kind in reports.SelectMany(r => r.FaultsInjected.Keys).Distinct().Order())
        {
            sb.AppendLine(ci, $"| {kind} | {reports.Sum(r => r.FaultsInjected.GetValueOrDefault(kind))} | {reports.Max(r => r.LongestUnavailability.GetValueOrDefault(kind)).TotalSeconds:0.0} s |");
        }

        sb.AppendLine();
        sb.AppendLine("Checkers per history: " + string.Join(", ", reports.FirstOrDefault()?.Checks.Select(c => c.Checker) ?? []) + ".");
        foreach (var report in reports.Where(r => !r.Valid))
        {
            sb.AppendLine();
            sb.AppendLine(report.ToMarkdown());
        }

        return new Result(sb.ToString(), violations);
    }
}
