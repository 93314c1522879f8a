namespace Coordination.TestKit.Faults;

/// <summary>
/// The verdict of a linearizability search. <see cref="LinearizabilityOutcome.Unknown"/> means the search ran out of its budget;
/// callers count it as a failure (Knossos and Porcupine report the same third outcome).
/// </summary>
public enum LinearizabilityOutcome
{
    Ok,
    Illegal,
    Unknown,
}

/// <summary>
/// <see cref="LinearizabilityResult.Operations"/> is the number of operations searched (Fail ones excluded);
/// <see cref="LinearizabilityResult.StatesExplored"/> the number of distinct (linearized set, state) pairs cached.
/// <see cref="LinearizabilityResult.Explanation"/> is set for Illegal (the longest linearizable prefix found and the
/// operations that could not be placed after it) and Unknown.
/// </summary>
public sealed record LinearizabilityResult(LinearizabilityOutcome Outcome, int Operations, long StatesExplored, string? Explanation)
{
    public bool IsOk => Outcome == LinearizabilityOutcome.Ok;

    public override string ToString() =>
        $"{Outcome} ({Operations} operations, {StatesExplored} states){(Explanation is null ? string.Empty : $": {Explanation}")}";
}
