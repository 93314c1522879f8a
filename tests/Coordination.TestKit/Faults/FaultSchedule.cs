namespace Coordination.TestKit.Faults;

/// <summary>
/// Which fault comes next in a run, and whether the run injects another: rounds of every listed kind once,
/// each round in an order drawn from the run's seeded random source (one draw per kind, when the round
/// starts), for the run's duration and past it, within an allowance, until every kind has been injected
/// once. The first round holds each kind, so a run ends with it at the latest; on a loaded machine one slow
/// fault and its recovery can take the whole duration, and a run that left a listed kind out would prove
/// nothing about it.
/// </summary>
internal sealed class FaultSchedule(IReadOnlyList<FaultKind> kinds, TimeSpan duration, TimeSpan allowance, Random random)
{
    private readonly Queue<FaultKind> _round = new();
    private readonly HashSet<FaultKind> _notYetInjected = [.. kinds];

    /// <summary>The listed kinds not injected yet.</summary>
    public IReadOnlyCollection<FaultKind> NotYetInjected => _notYetInjected;

    /// <summary>Whether to inject another fault, <paramref name="elapsed"/> into the run.</summary>
    public bool Continues(TimeSpan elapsed) =>
        elapsed < duration || (_notYetInjected.Count > 0 && elapsed < duration + allowance);

    /// <summary>The next kind to inject; a used-up round is followed by a new one.</summary>
    public FaultKind Next()
    {
        if (_round.Count == 0)
        {
            foreach (var kind in kinds.OrderBy(_ => random.Next()))
            {
                _round.Enqueue(kind);
            }
        }

        return _round.Dequeue();
    }

    public void Injected(FaultKind kind) => _notYetInjected.Remove(kind);
}
