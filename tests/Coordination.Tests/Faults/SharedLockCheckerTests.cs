using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>
/// The semaphore and reader-writer checkers of the fault suite on hand-written histories: the controls that show
/// they can fail (N+1 permits held at once, a writer beside a reader, tokens out of order), beside histories they
/// must pass.
/// </summary>
public sealed class SharedLockCheckerTests
{
    private const string Key = "k";

    /// <summary>One grant: process <paramref name="P"/> invokes at <paramref name="Invoke"/>, is granted <paramref name="Token"/> at <paramref name="Ack"/>, and invokes its release at <paramref name="Release"/> (null: never).</summary>
    /// <param name="Mode">A of the acquire: 1 write, 0 read, null for a semaphore.</param>
    private sealed record G(int P, long Invoke, long Ack, long Token, long? Release, long? Mode = null);

    private static History Of(params G[] grants)
    {
        var ops = new List<Op>();
        foreach (var g in grants)
        {
            ops.Add(new Op(0, g.P, OpType.Invoke, "acquire", Key, g.Mode, null, null, g.Invoke));
            ops.Add(new Op(0, g.P, OpType.Ok, "acquire", Key, g.Mode, null, g.Token, g.Ack));
            if (g.Release is { } at)
            {
                ops.Add(new Op(0, g.P, OpType.Invoke, "release", Key, g.Token, null, null, at));
                ops.Add(new Op(0, g.P, OpType.Ok, "release", Key, g.Token, null, null, at + 1));
            }
        }

        return new History(ops.OrderBy(o => o.Time).Select((o, i) => o with { Index = i }));
    }

    private static CheckResult Semaphore(History h, int permits, params (int P, long Token)[] exempt) =>
        SemaphoreChecker.Check(h, new Dictionary<string, int> { [Key] = permits }, exempt.Select(e => (Key, e.P, e.Token)).ToHashSet());

    private static CheckResult ReaderWriter(History h, params (int P, long Token)[] exempt) =>
        ReaderWriterChecker.Check(h, new HashSet<string> { Key }, exempt.Select(e => (Key, e.P, e.Token)).ToHashSet());

    [Fact]
    public void Two_permits_held_at_once_pass_a_semaphore_of_two()
    {
        var result = Semaphore(Of(new G(1, 0, 1, 1, 10), new G(2, 2, 3, 2, 12), new G(3, 4, 11, 3, 20)), 2);
        Assert.True(result.Valid, string.Join("\n", result.Violations));
    }

    [Fact]
    public void Three_permits_held_at_once_are_caught_on_a_semaphore_of_two()
    {
        var result = Semaphore(Of(new G(1, 0, 1, 1, 10), new G(2, 2, 3, 2, 12), new G(3, 4, 5, 3, 20)), 2);
        Assert.False(result.Valid, "the semaphore checker passed three permits held at once on a semaphore of two");
        Assert.Contains("3 permits surely held at once, above its 2", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_permit_granted_as_another_is_released_is_not_an_overlap()
    {
        // Half-open intervals: p1's release invoked at 10, p3 granted at 10.
        var result = Semaphore(Of(new G(1, 0, 1, 1, 10), new G(2, 2, 3, 2, 12), new G(3, 4, 10, 3, 20)), 2);
        Assert.True(result.Valid, string.Join("\n", result.Violations));
    }

    [Fact]
    public void A_permit_held_across_a_pause_is_left_out_of_the_count_but_not_of_token_order()
    {
        var h = Of(new G(1, 0, 1, 1, null), new G(2, 2, 3, 2, 12), new G(3, 4, 5, 3, 20));
        Assert.True(Semaphore(h, 2, (1, 1)).Valid);
        var inverted = Semaphore(Of(new G(1, 0, 1, 5, null), new G(2, 2, 3, 2, 12)), 2, (1, 5));
        Assert.Contains("order", Assert.Single(inverted.Violations));
    }

    [Fact]
    public void A_permit_token_granted_twice_is_caught()
    {
        var result = Semaphore(Of(new G(1, 0, 2, 7, 10), new G(2, 1, 3, 7, 12)), 2);
        Assert.Contains(result.Violations, v => v.Contains("duplicate token 7", StringComparison.Ordinal));
    }

    [Fact]
    public void Readers_overlap_and_writers_alone_pass()
    {
        var result = ReaderWriter(Of(
            new G(1, 0, 1, 1, 10, 1),
            new G(2, 2, 11, 1, 20, 0),
            new G(3, 3, 12, 1, 21, 0),
            new G(4, 4, 22, 2, 30, 1),
            new G(5, 23, 31, 2, 40, 0)));
        Assert.True(result.Valid, string.Join("\n", result.Violations));
    }

    [Fact]
    public void A_writer_beside_a_reader_is_caught()
    {
        var result = ReaderWriter(Of(new G(1, 0, 1, 1, 10, 0), new G(2, 2, 5, 2, 12, 1)));
        Assert.False(result.Valid, "the reader-writer checker passed a writer beside a reader");
        Assert.Contains("a writer overlaps another holder", Assert.Single(result.Violations));
    }

    [Fact]
    public void Two_writers_at_once_are_caught_unless_one_was_paused()
    {
        var h = Of(new G(1, 0, 1, 1, null, 1), new G(2, 2, 5, 2, 12, 1));
        Assert.Contains("a writer overlaps another holder", Assert.Single(ReaderWriter(h).Violations));
        Assert.True(ReaderWriter(h, (1, 1)).Valid);
    }

    [Fact]
    public void A_writer_not_above_an_earlier_grant_or_a_reader_below_an_earlier_writer_is_caught()
    {
        var writer = ReaderWriter(Of(new G(1, 0, 1, 4, 2, 0), new G(2, 5, 6, 4, 8, 1)));
        Assert.Contains(writer.Violations, v => v.Contains("token order inverted", StringComparison.Ordinal));
        var reader = ReaderWriter(Of(new G(1, 0, 1, 4, 2, 1), new G(2, 5, 6, 3, 8, 0)));
        Assert.Contains("token order inverted", Assert.Single(reader.Violations));
    }
}
