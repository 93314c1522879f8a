using System.Collections.Immutable;
using Coordination.Membership.Protocol;
using CsCheck;

namespace Coordination.Tests.Membership;

/// <summary>The view as a version vector: SWIM's precedence rules, and merge as a join (property tests).</summary>
public sealed class MembershipViewTests
{
    private static readonly Gen<MemberState> State =
        Gen.Select(Gen.Enum<MemberStatus>(), Gen.Long[0, 4], Gen.Long[0, 4], (s, i, h) => new MemberState(s, i, h));

    private static readonly Gen<MembershipView> View =
        Gen.Dictionary(Gen.Int[0, 5].Select(i => new MemberId($"m{i}")), State)[0, 6]
            .Select(d => new MembershipView(d.ToImmutableSortedDictionary()));

    [Theory]
    [InlineData(MemberStatus.Alive, 2, 0, MemberStatus.Suspect, 1, 9, true)] // alive at a higher incarnation refutes a suspicion
    [InlineData(MemberStatus.Alive, 1, 9, MemberStatus.Suspect, 1, 0, false)] // but not at the same one
    [InlineData(MemberStatus.Suspect, 1, 0, MemberStatus.Alive, 1, 9, true)] // suspect overrides alive at the same incarnation
    [InlineData(MemberStatus.Suspect, 1, 0, MemberStatus.Alive, 2, 0, false)] // but not a newer alive
    [InlineData(MemberStatus.Suspect, 3, 0, MemberStatus.Suspect, 2, 5, true)]
    [InlineData(MemberStatus.Dead, 0, 0, MemberStatus.Alive, 7, 7, true)] // dead is final, whatever the incarnation
    [InlineData(MemberStatus.Dead, 0, 0, MemberStatus.Suspect, 7, 7, true)]
    [InlineData(MemberStatus.Left, 0, 0, MemberStatus.Alive, 7, 7, true)]
    [InlineData(MemberStatus.Alive, 9, 9, MemberStatus.Dead, 0, 0, false)]
    [InlineData(MemberStatus.Alive, 1, 5, MemberStatus.Alive, 1, 4, true)] // a newer heartbeat
    [InlineData(MemberStatus.Alive, 1, 4, MemberStatus.Alive, 1, 4, false)] // nothing supersedes itself
    internal void Precedence_follows_swim(MemberStatus s1, long i1, long h1, MemberStatus s2, long i2, long h2, bool supersedes) =>
        Assert.Equal(supersedes, new MemberState(s1, i1, h1).Supersedes(new MemberState(s2, i2, h2)));

    [Fact]
    public void Precedence_is_a_total_order() =>
        Gen.Select(State, State, State).Sample((a, b, c) =>
            Math.Sign(a.CompareTo(b)) == -Math.Sign(b.CompareTo(a))
            && (a.CompareTo(b) != 0 || a == b)
            && (!(a.CompareTo(b) <= 0 && b.CompareTo(c) <= 0) || a.CompareTo(c) <= 0));

    [Fact]
    public void Merge_is_commutative() =>
        Gen.Select(View, View).Sample((a, b) => a.Merge(b).Compare(b.Merge(a)) == ViewOrder.Equal);

    [Fact]
    public void Merge_is_associative() =>
        Gen.Select(View, View, View).Sample((a, b, c) => a.Merge(b).Merge(c).Compare(a.Merge(b.Merge(c))) == ViewOrder.Equal);

    [Fact]
    public void Merge_is_idempotent() =>
        View.Sample(a => a.Merge(a).Compare(a) == ViewOrder.Equal);

    [Fact]
    public void Merge_is_the_least_upper_bound() =>
        Gen.Select(View, View).Sample((a, b) =>
        {
            var m = a.Merge(b);
            return a.Compare(m) is ViewOrder.Before or ViewOrder.Equal
                && b.Compare(m) is ViewOrder.Before or ViewOrder.Equal
                && m.Members.All(e => e.Value == a[e.Key] || e.Value == b[e.Key]);
        });

    [Fact]
    public void Happens_before_and_concurrency_are_the_version_vector_order() =>
        Gen.Select(View, View).Sample((a, b) =>
        {
            var order = a.Compare(b);
            var mirrored = b.Compare(a);
            var consistent = (order, mirrored) switch
            {
                (ViewOrder.Before, ViewOrder.After) or (ViewOrder.After, ViewOrder.Before) => true,
                (ViewOrder.Equal, ViewOrder.Equal) or (ViewOrder.Concurrent, ViewOrder.Concurrent) => true,
                _ => false,
            };

            // Concurrent exactly when each view knows something newer than the other; merging then moves both forward.
            var concurrentRight = order != ViewOrder.Concurrent || (a.Merge(b).Compare(a) == ViewOrder.After && a.Merge(b).Compare(b) == ViewOrder.After);
            var beforeRight = order != ViewOrder.Before || a.Merge(b).Compare(b) == ViewOrder.Equal;
            return consistent && concurrentRight && beforeRight;
        });

    [Fact]
    public void Hand_written_views_compare_as_expected()
    {
        var m1 = new MemberId("m1");
        var m2 = new MemberId("m2");
        var a = MembershipView.Empty.With(m1, new MemberState(MemberStatus.Alive, 1, 3));
        var b = a.With(m2, MemberState.Joined);
        var c = a.With(m1, new MemberState(MemberStatus.Suspect, 1, 0));
        Assert.Equal(ViewOrder.Before, a.Compare(b));
        Assert.Equal(ViewOrder.After, b.Compare(a));
        Assert.Equal(ViewOrder.Concurrent, b.Compare(c));
        Assert.Equal(new MemberState(MemberStatus.Suspect, 1, 0), b.Merge(c)[m1]);
        Assert.Equal(MemberState.Joined, b.Merge(c)[m2]);
    }
}
