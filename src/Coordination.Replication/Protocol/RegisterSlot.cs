namespace Coordination.Replication.Protocol;

/// <summary>
/// What one acceptor remembers about one register: the highest ballot it promised and the last
/// (ballot, value) it accepted. Values are immutable objects, shared without copying.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.RegisterSlot")]
internal sealed record RegisterSlot(Ballot Promise, Ballot Accepted, object? Value)
{
    public static readonly RegisterSlot Empty = new(Ballot.Zero, Ballot.Zero, null);

    /// <summary>
    /// The slot a recovering replica keeps after copying from several sources: the highest promise and
    /// the value of the highest accepted ballot (ballots are unique per value, so ties carry equal values).
    /// </summary>
    public static RegisterSlot Merge(RegisterSlot a, RegisterSlot b) =>
        new(Ballot.Max(a.Promise, b.Promise),
            a.Accepted >= b.Accepted ? a.Accepted : b.Accepted,
            a.Accepted >= b.Accepted ? a.Value : b.Value);
}
