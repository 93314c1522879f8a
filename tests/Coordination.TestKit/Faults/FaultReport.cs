using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Coordination.TestKit.Faults;

/// <summary>The outcome of one fault run: what ran, what was injected, every checker's verdict and how long the service was unavailable.</summary>
public sealed record FaultReport(
    FaultRunOptions Options,
    int Operations,
    int Grants,
    int Writes,
    IReadOnlyDictionary<FaultKind, int> FaultsInjected,
    IReadOnlyDictionary<FaultKind, TimeSpan> LongestUnavailability,
    IReadOnlyList<CheckResult> Checks,
    string OutputDirectory,
    int SharedGrants = 0)
{
    /// <summary>How long after a fault healed the unavailability window still counts.</summary>
    private static readonly TimeSpan Tail = TimeSpan.FromSeconds(10);

    public bool Valid => Checks.All(c => c.Valid);

    public int Violations => Checks.Sum(c => c.Violations.Count);

    public static FaultReport Build(
        FaultRunOptions o,
        History history,
        IReadOnlyList<FaultEvent> faults,
        IReadOnlyList<string> keys,
        SharedKeys shared,
        IReadOnlyList<string> sentinels,
        IReadOnlyDictionary<string, long?> heldAtEnd,
        IReadOnlyDictionary<string, long> fresh,
        IReadOnlyDictionary<string, long[]> finalItems,
        IReadOnlyList<string> recoveryFailures,
        string output)
    {
        var operations = history.Operations();
        var ends = GrantEnds(operations);
        var pauses = faults.Where(f => f.Kind == FaultKind.PauseClient).Select(f => (Client: int.Parse(f.Target["client".Length..], CultureInfo.InvariantCulture), f.Started, f.Healed)).ToList();

        var unreliable = HeldAcrossPauses(operations, pauses);
        var locks = new History(history.Ops.Where(op => op.F is "acquire" or "release" or "lost" && !shared.Contains(op.Key)));
        var checks = new List<CheckResult> { MutexChecker.Check(locks, unreliable) };
        if (o.LockSet)
        {
            checks.Add(Merge(LockSetChecker.Name, keys.Select(k => LockSetChecker.Check(history.ForKey(k), finalItems[k]))));
        }

        if (shared.All.Any())
        {
            checks.Add(SemaphoreChecker.Check(history, shared.Semaphores, unreliable));
            checks.Add(ReaderWriterChecker.Check(history, shared.ReaderWriterLocks, unreliable));
            checks.Add(Merge($"{LockSetChecker.Name} (semaphore slots, writers)", shared.Resources.Select(k => LockSetChecker.Check(history.ForKey(k), finalItems[k]))));
        }

        checks.Add(LostGrantChecker.Check(new History(locks.Ops.Where(op => sentinels.Contains(op.Key))), heldAtEnd, new Dictionary<string, long>()));
        checks.Add(FreshTokens(operations, fresh));
        checks.Add(Linearizable(operations, ends, keys, unreliable, o.LinearizabilityBudget));
        checks.Add(CheckResult.From("recovery, typed errors", recoveryFailures));
        return new FaultReport(
            o,
            operations.Count(op => op.F != "nemesis"),
            operations.Count(op => op is { F: "acquire", Outcome: OpType.Ok } && !shared.Contains(op.Key)),
            operations.Count(op => op is { F: "write", Outcome: OpType.Ok }),
            faults.GroupBy(f => f.Kind).ToDictionary(g => g.Key, g => g.Count()),
            Unavailability([.. operations.Where(op => !shared.Contains(op.Key))], faults),
            checks,
            output,
            operations.Count(op => op is { F: "acquire", Outcome: OpType.Ok } && shared.Contains(op.Key)));
    }

    public string ToMarkdown()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(ci, $"# Fault run, seed {Options.Seed}: {(Valid ? "no violations" : $"{Violations} VIOLATION(S)")}");
        sb.AppendLine();
        sb.AppendLine(ci, $"Replay: `dotnet run -c Release --project tests/Coordination.Benchmarks -- faults --seed {Options.Seed} --duration {Options.Duration} --silos {Options.Silos} --elections {Options.Elections}{(Options.Unsafe is null ? string.Empty : $" --unsafe {Options.Unsafe}")} --faults {string.Join(',', Options.Faults)}`");
        sb.AppendLine();
        sb.AppendLine(ci, $"{Options.Silos} silos, {Options.Clients} client processes, {Options.Keys} locks{(Options.Elections > 0 ? $" and {Options.Elections} elections" : string.Empty)}{(Options.SemaphorePermits > 0 ? $", a semaphore of {Options.SemaphorePermits} permits and a reader-writer lock" : string.Empty)}, {(Options.LockSet ? "lock-set on a fenced resource" : "raw acquire/release")}, TTL {Options.TtlSeconds} s{(Options.Unsafe is null ? string.Empty : $", **broken on purpose: {Options.Unsafe}**")}.");
        sb.AppendLine(ci, $"Operations {Operations}, lock and election grants {Grants}, semaphore and reader-writer grants {SharedGrants}, fenced writes accepted {Writes}.");
        sb.AppendLine();
        sb.AppendLine("| fault | injected | longest unavailability |");
        sb.AppendLine("|---|---|---|");
        foreach (var kind in FaultsInjected.Keys.Order())
        {
            sb.AppendLine(ci, $"| {kind} | {FaultsInjected[kind]} | {LongestUnavailability.GetValueOrDefault(kind).TotalSeconds:0.0} s |");
        }

        sb.AppendLine();
        foreach (var check in Checks)
        {
            sb.AppendLine(ci, $"- {check}");
        }

        sb.AppendLine();
        sb.AppendLine(ci, $"History: {Path.Combine(OutputDirectory, "history.json")}");
        return sb.ToString();
    }

    public override string ToString() => ToMarkdown();

    /// <summary>
    /// Per grant (key, process, token) that ended: when its client stopped claiming it (its release invoked or its
    /// lost signal, whichever came first) and its lost signal, if any. Tokens identify grants only within a key.
    /// </summary>
    /// <summary>
    /// Grants held across a pause of their own client: that client's clock and signals are unreliable for them (only
    /// fencing judges them). A grant ends at the first release or loss of its token by its process after it was
    /// acknowledged: a reader of one write epoch takes the same token again, so an earlier grant's end is not its own.
    /// </summary>
    /// <param name="pauses">Each pause: the client's index (process / <see cref="FaultRun.ProcessesPerClient"/>), its start and its heal.</param>
    public static HashSet<(string Key, int Process, long Token)> HeldAcrossPauses(IReadOnlyList<Operation> operations, IReadOnlyList<(int Client, long Started, long Healed)> pauses)
    {
        var endings = operations.Where(op => op is { F: "release" or "lost", A: not null }).ToLookup(op => (op.Key, op.Process, op.A));
        return
        [
            .. operations
                .Where(g => g is { F: "acquire", Outcome: OpType.Ok, Result: not null } && g.Process < FaultRun.SentinelProcess)
                .Where(g =>
                {
                    var end = endings[(g.Key, g.Process, g.Result)].Where(e => e.Invoked >= g.Completed).Select(e => e.Invoked).DefaultIfEmpty(long.MaxValue).Min();
                    return pauses.Any(p => p.Client == g.Process / FaultRun.ProcessesPerClient && g.Completed <= p.Healed && end >= p.Started);
                })
                .Select(g => (g.Key, g.Process, g.Result!.Value)),
        ];
    }

    private static Dictionary<(string Key, int Process, long? Token), (long End, Operation? Lost)> GrantEnds(IReadOnlyList<Operation> operations)
    {
        var ends = new Dictionary<(string, int, long?), (long End, Operation? Lost)>();
        foreach (var op in operations.Where(op => op is { F: "release" or "lost", A: not null }))
        {
            var grant = (op.Key, op.Process, op.A);
            var (end, lost) = ends.TryGetValue(grant, out var known) ? known : (long.MaxValue, null);
            ends[grant] = (Math.Min(end, op.Invoked), op.F == "lost" ? lost ?? op : lost);
        }

        return ends;
    }

    private static CheckResult Merge(string name, IEnumerable<CheckResult> results) =>
        CheckResult.From(name, [.. results.SelectMany(r => r.Violations)]);

    private static CheckResult FreshTokens(IReadOnlyList<Operation> operations, IReadOnlyDictionary<string, long> fresh)
    {
        var violations = new List<string>();
        foreach (var (key, token) in fresh)
        {
            var before = operations.Where(op => op is { F: "acquire", Outcome: OpType.Ok, Result: not null } && op.Key == key && op.Result != token).Select(op => op.Result!.Value).DefaultIfEmpty(0).Max();
            if (token <= before)
            {
                violations.Add($"{key}: an acquire after the heal got token {token}, not above the acknowledged {before}");
            }
        }

        return CheckResult.From("fresh-token", violations);
    }

    /// <summary>
    /// The fenced-mutex model per key. A grant that ended in a lost signal, or that its process held across a
    /// pause, ended at an unknown time after its lost signal (or after it was acknowledged): its release becomes
    /// an operation of unknown outcome from then on.
    /// </summary>
    private static CheckResult Linearizable(IReadOnlyList<Operation> operations, Dictionary<(string Key, int Process, long? Token), (long End, Operation? Lost)> ends, IReadOnlyList<string> keys, IReadOnlySet<(string Key, int Process, long Token)> unreliable, TimeSpan budget)
    {
        var violations = new List<string>();
        foreach (var key in keys)
        {
            var converted = new List<Operation>();
            foreach (var op in operations.Where(op => op.Key == key && op.F is "acquire" or "release"))
            {
                if (op is { F: "release", A: { } released } && (unreliable.Contains((key, op.Process, released)) || ends.GetValueOrDefault((key, op.Process, released)).Lost is not null))
                {
                    continue;
                }

                converted.Add(op);
                if (op is { F: "acquire", Outcome: OpType.Ok, Result: { } token })
                {
                    var lost = ends.GetValueOrDefault((key, op.Process, token)).Lost;
                    var paused = unreliable.Contains((key, op.Process, token));
                    if (lost is not null || paused)
                    {
                        var from = paused ? op.Completed : lost!.Invoked;
                        converted.Add(new Operation(op.Process, "release", key, token, null, null, OpType.Info, from, long.MaxValue, "ended by expiry"));
                    }
                }
            }

            var result = Linearizability.Check(converted, new FencedMutexModel(), budget);
            if (!result.IsOk)
            {
                violations.Add($"{key}: {result}");
            }
        }

        return CheckResult.From("linearizable (fenced mutex, WGL)", violations);
    }

    /// <summary>Per fault kind, the longest stretch without a single acknowledged grant, from a fault's start until <see cref="Tail"/> after it healed.</summary>
    private static Dictionary<FaultKind, TimeSpan> Unavailability(IReadOnlyList<Operation> operations, IReadOnlyList<FaultEvent> faults)
    {
        var grants = operations.Where(op => op is { F: "acquire", Outcome: OpType.Ok } && op.Process < FaultRun.SentinelProcess).Select(op => op.Completed).Order().ToArray();
        var longest = new Dictionary<FaultKind, TimeSpan>();
        var tail = (long)(Tail.TotalSeconds * Stopwatch.Frequency);
        foreach (var fault in faults)
        {
            var end = Math.Max(fault.Started, Math.Min(fault.Healed + tail, grants.Length > 0 ? grants[^1] : fault.Started));
            var points = grants.Where(t => t > fault.Started && t < end).Prepend(fault.Started).Append(end).ToArray();
            var gap = points.Zip(points.Skip(1), (a, b) => b - a).Max();
            var span = TimeSpan.FromSeconds(gap / (double)Stopwatch.Frequency);
            longest[fault.Kind] = longest.TryGetValue(fault.Kind, out var was) && was > span ? was : span;
        }

        return longest;
    }
}
