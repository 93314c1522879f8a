namespace Coordination.TestKit.Faults;

/// <summary>
/// Checks, after the faults healed, that no acknowledged grant silently vanished and that tokens never went
/// back (the durability half of a lock's contract; Kleppmann 2016 on fencing). Per key: a grant (Ok acquire)
/// that was neither released (an Ok release of its token) nor lost (a "lost" event for its token) is one the
/// client still believes it holds, so it must be the lock's holder at the end; hence at most one such grant
/// per key. A grant whose release is of unknown outcome (Info) may have been released and is not required
/// to be held. A token released with an Ok release must not be the holder at the end. A fresh acquire
/// after the heal must get a token above every acknowledged token of the key.
/// </summary>
public static class LostGrantChecker
{
    public const string Name = "lost-grant";

    public static CheckResult Check(History h, IReadOnlyDictionary<string, long?> heldTokenAtEnd, IReadOnlyDictionary<string, long> freshTokenAfterHeal)
    {
        var violations = new List<string>();
        var byKey = h.Operations().ToLookup(o => o.Key);
        var keys = byKey.Select(g => g.Key).Union(heldTokenAtEnd.Keys).Union(freshTokenAfterHeal.Keys);
        foreach (var key in keys)
        {
            var ops = byKey[key].ToList();
            var grants = ops.Where(o => o is { F: "acquire", Outcome: OpType.Ok, Result: not null }).ToList();
            var released = Tokens(ops, "release", OpType.Ok);
            var maybeReleased = Tokens(ops, "release", OpType.Info);
            var lost = Tokens(ops, "lost", OpType.Ok);
            var held = heldTokenAtEnd.TryGetValue(key, out var atEnd) ? atEnd : null;
            var outstanding = grants.Where(g => g.Result is { } t && !released.Contains(t) && !maybeReleased.Contains(t) && !lost.Contains(t)).ToList();

            if (outstanding.Count > 1)
            {
                violations.Add($"{key}: {outstanding.Count} grants were never released nor lost, at most one can still be held: {string.Join(", ", outstanding)}");
            }

            foreach (var grant in outstanding.Where(g => g.Result != held))
            {
                violations.Add($"{key}: {grant} was never released nor lost, but at the end the lock is {Describe(held)}");
            }

            if (held is { } token && released.Contains(token))
            {
                violations.Add($"{key}: token {token} was released (acknowledged) but still holds the lock at the end");
            }

            if (freshTokenAfterHeal.TryGetValue(key, out var fresh) && grants.Count > 0)
            {
                var highest = grants.MaxBy(g => g.Result!.Value)!;
                if (fresh <= highest.Result!.Value)
                {
                    violations.Add($"{key}: the fresh token {fresh} after the heal is not above the acknowledged {highest}");
                }
            }
        }

        return CheckResult.From(Name, violations);
    }

    private static HashSet<long> Tokens(List<Operation> ops, string f, OpType outcome) =>
        [.. ops.Where(o => o.F == f && o.Outcome == outcome && o.A is not null).Select(o => o.A!.Value)];

    private static string Describe(long? held) => held is { } token ? $"held by token {token}" : "free";
}
