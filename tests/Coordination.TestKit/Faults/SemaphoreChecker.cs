namespace Coordination.TestKit.Faults;

/// <summary>
/// Checks a counting semaphore's history, per key, with the interval rules of <see cref="MutexChecker"/>: a permit
/// (an Ok acquire) is surely held from its acquire's completion until its process invoked its release or signalled
/// it lost. Violations: (a) more than the key's permits surely held at one instant (a sweep over the half-open
/// intervals), leaving out permits held across a pause of their client (only their tokens judge them); (b) one
/// token granted twice; (c) real-time token order: every permit gets a fresh token, so a permit acknowledged before
/// another acquire was invoked has a lower token.
/// </summary>
public static class SemaphoreChecker
{
    public const string Name = "semaphore";

    /// <param name="permits">Each semaphore key and its permit count; other keys are not looked at.</param>
    /// <param name="unreliableGrants">Permits (key, process, token) left out of the count, such as one held across a pause of its client.</param>
    public static CheckResult Check(History h, IReadOnlyDictionary<string, int> permits, IReadOnlySet<(string Key, int Process, long Token)>? unreliableGrants = null)
    {
        var violations = new List<string>();
        foreach (var group in h.Operations().Where(o => permits.ContainsKey(o.Key)).GroupBy(o => o.Key))
        {
            var grants = MutexChecker.Grants(group.Key, [.. group], violations);
            CheckCount(group.Key, permits[group.Key], [.. grants.Where(g => g.Acked < g.HeldUntil && unreliableGrants?.Contains((group.Key, g.Process, g.Token)) != true)], violations);
            MutexChecker.CheckDuplicates(group.Key, grants, violations);
            MutexChecker.CheckOrder(group.Key, grants, violations);
        }

        return CheckResult.From(Name, violations);
    }

    /// <summary>Reports each stretch during which more than <paramref name="permits"/> were surely held, once, with the holders at its peak.</summary>
    private static void CheckCount(string key, int permits, List<MutexChecker.Grant> grants, List<string> violations)
    {
        // At one instant an end comes before a start: intervals are half-open.
        var events = grants.SelectMany(g => new[] { (At: g.Acked, Start: true, Grant: g), (At: g.HeldUntil, Start: false, Grant: g) })
            .OrderBy(e => e.At).ThenBy(e => e.Start);
        var held = new HashSet<MutexChecker.Grant>();
        List<MutexChecker.Grant>? peak = null;
        foreach (var (_, start, grant) in events)
        {
            if (start)
            {
                held.Add(grant);
                if (held.Count > permits && (peak is null || held.Count > peak.Count))
                {
                    peak = [.. held];
                }
            }
            else
            {
                held.Remove(grant);
                if (held.Count <= permits && peak is not null)
                {
                    violations.Add($"{key}: {peak.Count} permits surely held at once, above its {permits}: {string.Join(", ", peak.OrderBy(g => g.Acked))}");
                    peak = null;
                }
            }
        }

        if (peak is not null)
        {
            violations.Add($"{key}: {peak.Count} permits surely held at once, above its {permits}: {string.Join(", ", peak.OrderBy(g => g.Acked))}");
        }
    }
}
