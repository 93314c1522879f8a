namespace Coordination.Replication.Protocol;

/// <summary>
/// The highest ballot counter one silo has seen per partition, in any reply or ballot of its own. A new
/// proposer starts above it, so the first prepare of a fresh key rarely meets a floor it did not know
/// (absent keys stand behind their bucket's floor, <see cref="KeyFloors"/>). A hint only: a proposer that
/// starts too low is rejected with the floor and tries again above it. Thread-safe.
/// </summary>
internal sealed class BallotHints
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _counters = new();

    /// <summary>A ballot below every ballot this silo would take next for <paramref name="partition"/>.</summary>
    public Ballot Get(int partition) => new(_counters.GetValueOrDefault(partition), 0);

    public void Raise(int partition, Ballot seen)
    {
        if (seen.IsZero)
        {
            return;
        }

        _counters.AddOrUpdate(partition, static (_, counter) => counter, static (_, known, counter) => Math.Max(known, counter), seen.Counter);
    }
}
