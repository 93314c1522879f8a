using System.Collections.Immutable;
using Coordination.Grains.Values;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Latches;

/// <summary>The replicated state of a countdown latch: its initial count, what is left, and the latest count-downs (so a retry counts once).</summary>
[GenerateSerializer, Immutable, Alias("coord.LatchRecord")]
internal sealed record LatchRecord(int Initial, int Count, ImmutableList<Guid> Recent) : IRegisterValue
{
    long IRegisterValue.Floor => 0;

    int IRegisterValue.EstimatedBytes => 16 + (Recent.Count * 16);
}

/// <summary>Latch transitions as pure functions.</summary>
internal static class LatchStateMachine
{
    /// <summary>The largest initial count.</summary>
    public const int MaxCount = 1_000_000;

    /// <summary>Count-downs kept for retries.</summary>
    public const int MaxRecent = 256;

    /// <summary>The latch as it stands: an absent one is at its full count (it is created by its first count-down).</summary>
    public static LatchState State(LatchRecord? r, string name, int initialCount)
    {
        if (r is null)
        {
            return new LatchState(name, initialCount, initialCount);
        }

        Check(r, name, initialCount);
        return new LatchState(name, r.Initial, r.Count);
    }

    /// <summary>
    /// Counts down once for <paramref name="requestId"/>; a retry among the recent ones counts nothing; below zero is
    /// refused. The count-downs done so far serve as the latch's revision: an attempt the register makes again after a
    /// failed round, whose earlier proposal may have been chosen and dropped from the recent ones, fails as unknown.
    /// </summary>
    public static (LatchRecord Next, LatchState State) CountDown(LatchRecord? current, string name, Guid requestId, int initialCount, ProposedRevisions proposed)
    {
        var r = current ?? new LatchRecord(initialCount, initialCount, []);
        Check(r, name, initialCount);
        if (r.Recent.Contains(requestId))
        {
            return (r, new LatchState(name, r.Initial, r.Count));
        }

        var done = r.Initial - r.Count;
        proposed.ThrowIfForgotten(name, requestId, done, r.Recent.Count < MaxRecent ? null : done - r.Recent.Count + 1);

        if (r.Count == 0)
        {
            throw new LatchMisuseException(name, $"it is already released (counted down {r.Initial} times); a count-down below zero is refused");
        }

        var recent = r.Recent.Add(requestId);
        if (recent.Count > MaxRecent)
        {
            recent = recent.RemoveAt(0);
        }

        proposed.Proposed(done + 1);
        var next = new LatchRecord(r.Initial, r.Count - 1, recent);
        return (next, new LatchState(name, next.Initial, next.Count));
    }

    public static void ValidateCount(int initialCount)
    {
        if (initialCount is < 1 or > MaxCount)
        {
            throw new CoordinationArgumentException(nameof(initialCount), $"a latch's initial count is 1 to {MaxCount} (got {initialCount})");
        }
    }

    private static void Check(LatchRecord r, string name, int initialCount)
    {
        if (r.Initial != initialCount)
        {
            throw new LatchMisuseException(name, $"it was created with initial count {r.Initial}, not {initialCount}");
        }
    }
}
