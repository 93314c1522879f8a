using System.Collections.Immutable;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Values;

/// <summary>A change of a counter, kept so that a retry of it is answered as it was.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("coord.AtomicLongChange")]
internal sealed record AtomicLongChange(Guid RequestId, long Value, long Revision);

/// <summary>The replicated state of a named counter: its value, its revision and its latest changes. A counter at 0 is deleted when it retires.</summary>
[GenerateSerializer, Immutable, Alias("coord.AtomicLongRecord")]
internal sealed record AtomicLongRecord(long Value, long Revision, ImmutableList<AtomicLongChange> Recent) : IRegisterValue
{
    public static readonly AtomicLongRecord Empty = new(0, 0, []);

    /// <summary>A counter whose register does not exist reads 0, with revisions counting on from the partition's floor.</summary>
    public static AtomicLongRecord Fresh(long floor) => floor == 0 ? Empty : new(0, floor, []);

    long IRegisterValue.Floor => Revision;

    int IRegisterValue.EstimatedBytes => 32 + (Recent.Count * 40);
}

/// <summary>
/// Counter transitions as pure functions: each change is idempotent per request id while it is among the recent
/// ones, and a change the register applies again after a failed round notes where it was proposed
/// (<see cref="ProposedRevisions"/>), so that one chosen and since forgotten fails as unknown instead of being applied twice.
/// </summary>
internal static class AtomicLongStateMachine
{
    /// <summary>Changes kept for retries.</summary>
    public const int MaxRecent = 64;

    public static (AtomicLongRecord Next, AtomicLongResult Result) Add(AtomicLongRecord r, string name, Guid requestId, long delta, ProposedRevisions proposed)
    {
        if (Retried(r, name, requestId, proposed) is { } done)
        {
            return (r, done);
        }

        long value;
        try
        {
            value = checked(r.Value + delta);
        }
        catch (OverflowException)
        {
            throw new CoordinationArgumentException(nameof(delta), $"adding {delta} to counter '{name}' at {r.Value} overflows a 64-bit integer; nothing was changed");
        }

        return Changed(r, requestId, value, proposed);
    }

    public static (AtomicLongRecord Next, AtomicLongResult Result) CompareAndSet(AtomicLongRecord r, string name, Guid requestId, long expected, long value, ProposedRevisions proposed)
    {
        if (Retried(r, name, requestId, proposed) is { } done)
        {
            return (r, done);
        }

        return r.Value == expected ? Changed(r, requestId, value, proposed) : (r, new AtomicLongResult(false, r.Value, r.Revision));
    }

    /// <summary>The answer of a change already made; null if it was not (or <see cref="OutcomeUnknownException"/> if that cannot be told).</summary>
    private static AtomicLongResult? Retried(AtomicLongRecord r, string name, Guid requestId, ProposedRevisions proposed)
    {
        if (r.Recent.Find(c => c.RequestId == requestId) is { } c)
        {
            return new AtomicLongResult(true, c.Value, c.Revision);
        }

        proposed.ThrowIfForgotten(name, requestId, r.Revision, r.Recent.Count < MaxRecent ? null : r.Recent[0].Revision);
        return null;
    }

    private static (AtomicLongRecord, AtomicLongResult) Changed(AtomicLongRecord r, Guid requestId, long value, ProposedRevisions proposed)
    {
        var revision = r.Revision + 1;
        proposed.Proposed(revision);
        var recent = r.Recent.Add(new AtomicLongChange(requestId, value, revision));
        if (recent.Count > MaxRecent)
        {
            recent = recent.RemoveAt(0);
        }

        return (new AtomicLongRecord(value, revision, recent), new AtomicLongResult(true, value, revision));
    }
}
