namespace Coordination.TestKit.Faults;

/// <summary>
/// Checks a reader-writer lock's history, per key. Acquires carry A = 1 for a write lock and 0 for a read lock;
/// intervals as in <see cref="MutexChecker"/>. Violations: (a) a write grant surely held at the same time as any
/// other grant, read or write (grants held across a pause of their client left out: only tokens judge them);
/// (b) a writer's token granted twice; (c) real-time token order: a writer's token is strictly above every grant
/// acknowledged before the writer was invoked, and a reader's is at or above every such grant's (a reader carries the
/// token of the write epoch it reads in, shared with the other readers of that epoch).
/// </summary>
public static class ReaderWriterChecker
{
    public const string Name = "reader-writer";

    /// <param name="keys">The reader-writer keys; other keys are not looked at.</param>
    /// <param name="unreliableGrants">Grants (key, process, token) left out of the overlap check, such as one held across a pause of its client.</param>
    public static CheckResult Check(History h, IReadOnlySet<string> keys, IReadOnlySet<(string Key, int Process, long Token)>? unreliableGrants = null)
    {
        var violations = new List<string>();
        foreach (var group in h.Operations().Where(o => keys.Contains(o.Key)).GroupBy(o => o.Key))
        {
            var grants = MutexChecker.Grants(group.Key, [.. group], violations);
            var reliable = grants.Where(g => g.Acked < g.HeldUntil && unreliableGrants?.Contains((group.Key, g.Process, g.Token)) != true).OrderBy(g => g.Acked).ToList();
            CheckOverlaps(group.Key, reliable, violations);
            MutexChecker.CheckDuplicates(group.Key, [.. grants.Where(g => g.Writes)], violations);
            CheckOrder(group.Key, grants, violations);
        }

        return CheckResult.From(Name, violations);
    }

    private static void CheckOverlaps(string key, List<MutexChecker.Grant> byAck, List<string> violations)
    {
        for (var i = 0; i < byAck.Count; i++)
        {
            for (var j = i + 1; j < byAck.Count && byAck[j].Acked < byAck[i].HeldUntil; j++)
            {
                if (byAck[i].Writes || byAck[j].Writes)
                {
                    violations.Add($"{key}: a writer overlaps another holder: {Describe(byAck[i])} and {Describe(byAck[j])}");
                }
            }
        }
    }

    private static void CheckOrder(string key, List<MutexChecker.Grant> grants, List<string> violations)
    {
        foreach (var later in grants)
        {
            var highest = grants.Where(g => g.Acked < later.Invoked).MaxBy(g => g.Token);
            if (highest is not null && (later.Writes ? highest.Token >= later.Token : highest.Token > later.Token))
            {
                violations.Add($"{key}: token order inverted: {Describe(highest)} was acknowledged before {Describe(later)} was invoked, but its token is {(later.Writes ? "not lower" : "higher")}");
            }
        }
    }

    private static string Describe(MutexChecker.Grant g) => $"{(g.Writes ? "writer" : "reader")} {g}";
}
