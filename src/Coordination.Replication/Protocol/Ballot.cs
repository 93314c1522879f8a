namespace Coordination.Replication.Protocol;

/// <summary>
/// A CASPaxos ballot: (counter, proposer id), ordered by counter, then proposer id. Proposer ids are
/// random per proposer instance, so two proposers never share a ballot, and a proposer uses each ballot
/// for at most one value (every accept takes a fresh one).
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.Ballot")]
internal readonly record struct Ballot(long Counter, long Proposer) : IComparable<Ballot>
{
    /// <summary>Below every real ballot: the promise and accepted ballot of an untouched register.</summary>
    public static readonly Ballot Zero = new(0, 0);

    public bool IsZero => Counter == 0 && Proposer == 0;

    /// <summary>The smallest ballot of <paramref name="proposer"/> that is above both this one and <paramref name="other"/>.</summary>
    public Ballot NextAbove(Ballot other, long proposer) => new(Math.Max(Counter, other.Counter) + 1, proposer);

    public int CompareTo(Ballot other)
    {
        var byCounter = Counter.CompareTo(other.Counter);
        return byCounter != 0 ? byCounter : Proposer.CompareTo(other.Proposer);
    }

    public static bool operator <(Ballot left, Ballot right) => left.CompareTo(right) < 0;

    public static bool operator >(Ballot left, Ballot right) => left.CompareTo(right) > 0;

    public static bool operator <=(Ballot left, Ballot right) => left.CompareTo(right) <= 0;

    public static bool operator >=(Ballot left, Ballot right) => left.CompareTo(right) >= 0;

    public static Ballot Max(Ballot a, Ballot b) => a >= b ? a : b;

    public override string ToString() => $"{Counter}.{Proposer & 0xFFFF:x4}";
}
