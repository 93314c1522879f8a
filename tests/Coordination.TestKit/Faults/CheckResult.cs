namespace Coordination.TestKit.Faults;

/// <summary>The verdict of one checker over one history: valid exactly when there are no violations.</summary>
public sealed record CheckResult(string Checker, bool Valid, IReadOnlyList<string> Violations)
{
    private const int ShownViolations = 20;

    public static CheckResult Ok(string checker) => new(checker, true, []);

    public static CheckResult From(string checker, IReadOnlyList<string> violations) => new(checker, violations.Count == 0, violations);

    public override string ToString()
    {
        if (Valid)
        {
            return $"{Checker}: valid";
        }

        var shown = Violations.Take(ShownViolations).Select(v => $"{Environment.NewLine}  - {v}");
        var more = Violations.Count > ShownViolations ? $"{Environment.NewLine}  … and {Violations.Count - ShownViolations} more" : string.Empty;
        return $"{Checker}: {Violations.Count} violation(s){string.Concat(shown)}{more}";
    }
}
