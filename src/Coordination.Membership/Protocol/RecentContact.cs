namespace Coordination.Membership.Protocol;

/// <summary>
/// When this member last heard directly from each other member. Only a member that has lately heard from a
/// majority of the group (itself included, the suspect not) may declare a death: an isolated member, or the
/// minority side of a partition, never condemns the rest.
/// </summary>
internal sealed class RecentContact
{
    private readonly Dictionary<MemberId, TimeSpan> _lastHeard = [];

    public void Heard(MemberId member, TimeSpan now) => _lastHeard[member] = now;

    /// <summary>Whether members still live in <paramref name="view"/> were heard within <see cref="ProbeMath.ContactWindow"/>, enough to make a majority with this member.</summary>
    public bool InTouchWithMajority(MemberId suspect, TimeSpan now, MembershipView view, int groupSize, ProbeOptions options)
    {
        var window = ProbeMath.ContactWindow(groupSize, options);
        var heard = _lastHeard.Count(h => h.Key != suspect && now - h.Value <= window && view[h.Key] is { IsFinal: false });
        return (heard + 1) * 2 > groupSize;
    }
}
