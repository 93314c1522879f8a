namespace Coordination.TestKit.Faults;

/// <summary>
/// Checks the mutual exclusion and fencing-token properties of a lock history, per key, by interval
/// sweeps rather than a search (Jepsen's lock checks; Kleppmann 2016 on fencing). A grant is an Ok acquire;
/// it is surely held from its acquire's completion until the earliest of: the invocation of the same
/// process's next release of its token (whatever that release's outcome), a "lost" event for its token
/// from that process, the end of the history. Violations:
/// (a) two grants of one key whose surely-held intervals overlap (half-open intervals, so a release invoked
/// at t and a grant acknowledged at t do not overlap), skipped for grants held across a pause of their
/// client, whose clock is unreliable for them (only their tokens judge them);
/// (b) two grants of one key with the same token;
/// (c) real-time token order: a grant acknowledged before another acquire was invoked has a lower token.
/// </summary>
public static class MutexChecker
{
    public const string Name = "mutex";

    /// <param name="unreliableGrants">Grants (key, process, token) left out of the overlap check, such as one held across a pause of its client.</param>
    public static CheckResult Check(History h, IReadOnlySet<(string Key, int Process, long Token)>? unreliableGrants = null)
    {
        var violations = new List<string>();
        foreach (var group in h.Operations().GroupBy(o => o.Key))
        {
            var grants = Grants(group.Key, [.. group], violations);
            CheckOverlaps(group.Key, [.. grants.Where(g => unreliableGrants?.Contains((group.Key, g.Process, g.Token)) != true)], violations);
            CheckDuplicates(group.Key, grants, violations);
            CheckOrder(group.Key, grants, violations);
        }

        return CheckResult.From(Name, violations);
    }

    /// <summary>The grants of one key (Ok acquires) with the end of their surely-held intervals; a grant without a token is a violation.</summary>
    internal static List<Grant> Grants(string key, IReadOnlyList<Operation> ops, List<string> violations)
    {
        var ends = new Dictionary<(int Process, long Token), List<long>>();
        foreach (var op in ops)
        {
            if (op is { F: "release" or "lost", A: { } token })
            {
                var at = op.F == "release" ? op.Invoked : op.Completed;
                if (!ends.TryGetValue((op.Process, token), out var times))
                {
                    ends[(op.Process, token)] = times = [];
                }

                times.Add(at);
            }
        }

        var grants = new List<Grant>();
        foreach (var op in ops.Where(o => o is { F: "acquire", Outcome: OpType.Ok }))
        {
            if (op.Result is not { } token)
            {
                violations.Add($"{key}: {op} was acknowledged without a fencing token");
                continue;
            }

            var end = ends.TryGetValue((op.Process, token), out var times)
                ? times.Where(t => t >= op.Invoked).DefaultIfEmpty(long.MaxValue).Min()
                : long.MaxValue;
            grants.Add(new Grant(op.Process, token, op.Invoked, op.Completed, end, op.A == 1));
        }

        return grants;
    }

    private static void CheckOverlaps(string key, List<Grant> grants, List<string> violations)
    {
        grants.RemoveAll(g => g.HeldUntil <= g.Acked);
        grants.Sort((x, y) => x.Acked.CompareTo(y.Acked));
        Grant? widest = null;
        foreach (var grant in grants)
        {
            if (widest is not null && grant.Acked < widest.HeldUntil)
            {
                violations.Add($"{key}: surely-held intervals overlap: {widest} and {grant}");
            }

            if (widest is null || grant.HeldUntil > widest.HeldUntil)
            {
                widest = grant;
            }
        }
    }

    internal static void CheckDuplicates(string key, List<Grant> grants, List<string> violations)
    {
        foreach (var same in grants.GroupBy(g => g.Token).Where(s => s.Count() > 1))
        {
            violations.Add($"{key}: duplicate token {same.Key} granted {same.Count()} times: {string.Join(", ", same)}");
        }
    }

    internal static void CheckOrder(string key, List<Grant> grants, List<string> violations)
    {
        var byAck = grants.OrderBy(g => g.Acked).ToList();
        var next = 0;
        Grant? highest = null;
        foreach (var later in grants.OrderBy(g => g.Invoked))
        {
            while (next < byAck.Count && byAck[next].Acked < later.Invoked)
            {
                if (highest is null || byAck[next].Token > highest.Token)
                {
                    highest = byAck[next];
                }

                next++;
            }

            if (highest is not null && highest.Token >= later.Token)
            {
                violations.Add($"{key}: token order inverted: {highest} was acknowledged before {later} was invoked, but its token is not lower");
            }
        }
    }

    /// <summary>One grant: surely held over [<see cref="Acked"/>, <see cref="HeldUntil"/>).</summary>
    /// <param name="Writes">On a reader-writer key, a write grant (its acquire's A is 1); false for a read grant and for other keys.</param>
    internal sealed record Grant(int Process, long Token, long Invoked, long Acked, long HeldUntil, bool Writes = false)
    {
        public bool Overlaps(Grant other) => Acked < other.HeldUntil && other.Acked < HeldUntil;

        public override string ToString() =>
            $"p{Process} token {Token} held [{Acked}, {(HeldUntil == long.MaxValue ? "end" : $"{HeldUntil}")})";
    }
}
