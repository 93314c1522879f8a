namespace Coordination.TestKit.Faults;

/// <summary>
/// Checks the lock-set workload (Jepsen's set checker over a fenced resource): each "add" is a "write"
/// whose A is the element, Ok when the fenced resource accepted the list with the element appended, Fail
/// when it refused the token. Against the resource's final list: every element of an Ok write is present
/// (else a lost update), no element is present twice, no element is present whose every write failed
/// (a refused write must leave no trace), and no element is present that nobody wrote. An element whose
/// write is Info may be present or not.
/// </summary>
public static class LockSetChecker
{
    public const string Name = "lock-set";

    public static CheckResult Check(History h, IReadOnlyList<long> finalItems)
    {
        var violations = new List<string>();
        var counts = finalItems.GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count());
        var writes = h.Operations().Where(o => o.F == "write").ToList();
        foreach (var write in writes.Where(w => w.A is null))
        {
            violations.Add($"{write} has no element");
        }

        foreach (var element in writes.Where(w => w.A is not null).GroupBy(w => w.A!.Value))
        {
            var present = counts.ContainsKey(element.Key);
            if (!present && element.Any(w => w.Outcome == OpType.Ok))
            {
                violations.Add($"lost update: element {element.Key} was acknowledged by {element.First(w => w.Outcome == OpType.Ok)} but is missing");
            }

            if (present && element.All(w => w.Outcome == OpType.Fail))
            {
                violations.Add($"element {element.Key} is present although its write was refused: {element.First()}");
            }
        }

        var written = writes.Where(w => w.A is not null).Select(w => w.A!.Value).ToHashSet();
        foreach (var (element, count) in counts)
        {
            if (count > 1)
            {
                violations.Add($"element {element} is present {count} times");
            }

            if (!written.Contains(element))
            {
                violations.Add($"element {element} is present but was never written");
            }
        }

        return CheckResult.From(Name, violations);
    }
}
