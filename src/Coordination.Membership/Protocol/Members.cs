using System.Collections.Immutable;

namespace Coordination.Membership.Protocol;

/// <summary>A member of the group: one silo process (its Orleans address, generation included, so a restart is a new member).</summary>
[GenerateSerializer, Immutable, Alias("coord.probe.MemberId")]
internal readonly record struct MemberId(string Value) : IComparable<MemberId>
{
    public int CompareTo(MemberId other) => string.CompareOrdinal(Value, other.Value);

    public override string ToString() => Value;
}

/// <summary>A member's status in SWIM. <see cref="Dead"/> and <see cref="Left"/> are final for that member.</summary>
internal enum MemberStatus
{
    Alive = 0,
    Suspect = 1,
    Left = 2,
    Dead = 3,
}

/// <summary>
/// What the group believes about one member: status, incarnation (bumped only by the member itself, to
/// refute a suspicion) and heartbeat counter (bumped by the member every probe period).
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.probe.MemberState")]
internal readonly record struct MemberState(MemberStatus Status, long Incarnation, long Heartbeat) : IComparable<MemberState>
{
    public static MemberState Joined => new(MemberStatus.Alive, 0, 0);

    public bool IsFinal => Status is MemberStatus.Dead or MemberStatus.Left;

    /// <summary>
    /// SWIM's precedence as a total order, so a merge that keeps the greater state is a join:
    /// a final state (dead, left) overrides any other; then the higher incarnation wins; at equal
    /// incarnation suspect overrides alive (and dead overrides left); then the higher heartbeat.
    /// </summary>
    public int CompareTo(MemberState other)
    {
        var c = IsFinal.CompareTo(other.IsFinal);
        if (c != 0)
        {
            return c;
        }

        c = Incarnation.CompareTo(other.Incarnation);
        if (c != 0)
        {
            return c;
        }

        c = ((int)Status).CompareTo((int)other.Status);
        return c != 0 ? c : Heartbeat.CompareTo(other.Heartbeat);
    }

    public bool Supersedes(MemberState other) => CompareTo(other) > 0;

    public static MemberState Max(MemberState a, MemberState b) => a.CompareTo(b) >= 0 ? a : b;

    public override string ToString() => $"{Status}#{Incarnation}/{Heartbeat}";
}

/// <summary>How two views relate as version vectors.</summary>
internal enum ViewOrder
{
    Equal,
    Before,
    After,
    Concurrent,
}

/// <summary>
/// The membership view as a version vector over members: one <see cref="MemberState"/> per member,
/// ordered by SWIM's precedence. Merging takes the greater state member by member, so it is
/// commutative, associative and idempotent, and every view converges to the join of all it hears.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.probe.View")]
internal sealed record MembershipView(ImmutableSortedDictionary<MemberId, MemberState> Members)
{
    public static readonly MembershipView Empty = new(ImmutableSortedDictionary<MemberId, MemberState>.Empty);

    public MemberState? this[MemberId member] => Members.TryGetValue(member, out var s) ? s : null;

    public MembershipView With(MemberId member, MemberState state) => new(Members.SetItem(member, state));

    public MembershipView Merge(MembershipView other)
    {
        var merged = Members.ToBuilder();
        foreach (var (member, state) in other.Members)
        {
            merged[member] = merged.TryGetValue(member, out var mine) ? MemberState.Max(mine, state) : state;
        }

        return new MembershipView(merged.ToImmutable());
    }

    /// <summary>Before: every entry of this view is at or below the other's (a missing entry is below all) and they differ.</summary>
    public ViewOrder Compare(MembershipView other)
    {
        bool below = false, above = false;
        foreach (var member in Members.Keys.Union(other.Members.Keys))
        {
            var mine = this[member];
            var theirs = other[member];
            var c = (mine, theirs) switch
            {
                (null, null) => 0,
                (null, _) => -1,
                (_, null) => 1,
                _ => mine.Value.CompareTo(theirs.Value),
            };
            below |= c < 0;
            above |= c > 0;
        }

        return (below, above) switch
        {
            (false, false) => ViewOrder.Equal,
            (true, false) => ViewOrder.Before,
            (false, true) => ViewOrder.After,
            _ => ViewOrder.Concurrent,
        };
    }

    public bool Equals(MembershipView? other) => other is not null && Compare(other) == ViewOrder.Equal;

    public override int GetHashCode() => Members.Count;
}
