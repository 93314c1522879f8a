using Coordination.Grains.Sessions;

namespace Coordination.Tests;

/// <summary>A session's shard: attachments keyed by request, and a late copy of a settled request refused however many came since.</summary>
public sealed class SessionShardTests
{
    private static readonly Holding A = Holding.Lock("a"), B = Holding.Lock("b");

    private static SessionShard Attached(params (Holding Holding, long Sequence)[] requests) =>
        requests.Aggregate((SessionShard?)null, (s, r) => SessionShards.Attach(s, "s", r.Holding, r.Sequence, 0))!;

    public static TheoryData<string, Func<object?>, Type?> Attaches => new()
    {
        { "a new request on a new shard", () => SessionShards.Attach(null, "s", A, 1, 0), null },
        { "a retry of an attached request, even below the mark", () => SessionShards.Attach(Attached((A, 1)), "s", A, 1, 5), null },
        { "a request older than another's, out of order", () => SessionShards.Attach(Attached((A, 5)), "s", B, 3, 0), null },
        { "a request at or below the client's mark, not attached", () => SessionShards.Attach(Attached((A, 5)), "s", B, 3, 4), typeof(RequestFinishedException) },
        { "a request the shard let go of, above the mark", () => SessionShards.Attach(SessionShards.Detach(Attached((A, 7)), A, 7), "s", A, 7, 0), typeof(RequestFinishedException) },
        { "a request let go of before it was ever attached (a cancel that came first)", () => SessionShards.Attach(SessionShards.Detach(Attached((B, 1)), A, 9), "s", A, 9, 0), typeof(RequestFinishedException) },
        { "any request on an ended shard", () => SessionShards.Attach(SessionShards.MarkEnded(Attached((A, 1))), "s", B, 2, 0), typeof(SessionExpiredException) },
    };

    [Theory]
    [MemberData(nameof(Attaches))]
    public void Attach(string why, Func<object?> attach, Type? error)
    {
        if (error is null)
        {
            Assert.NotNull(attach());
        }
        else
        {
            Assert.True(Assert.ThrowsAny<Exception>(attach).GetType() == error, why);
        }
    }

    [Fact]
    public void A_detach_removes_only_its_own_request_and_never_undoes_another_attach()
    {
        var s = Attached((A, 1), (A, 2));
        s = SessionShards.Detach(s, A, 1)!;
        Assert.Equal([new Attachment(A, 2)], s.Attached);
        Assert.Equal([1L], s.Settled);
    }

    [Fact]
    public void Settled_numbers_are_forgotten_once_the_mark_passes_them_so_the_shard_holds_only_what_is_held()
    {
        var s = Attached((A, 1));
        for (var n = 2; n <= 500; n++)
        {
            s = SessionShards.Detach(SessionShards.Attach(s, "s", B, n, n - 1), B, n)!;
        }

        Assert.Equal([new Attachment(A, 1)], s.Attached);
        Assert.True(s.Settled.Count <= 1, $"{s.Settled.Count} settled numbers kept");
        Assert.Throws<RequestFinishedException>(() => SessionShards.Attach(s, "s", B, 250, 0));
    }

    [Fact]
    public void The_settled_memory_is_bounded_even_when_the_client_mark_never_moves()
    {
        var s = Attached((A, 1));
        for (var n = 2; n <= SessionShards.MaxSettledPerShard + 100; n++)
        {
            s = SessionShards.Detach(s, B, n)!;
        }

        Assert.Equal(SessionShards.MaxSettledPerShard, s.Settled.Count);
        Assert.Throws<RequestFinishedException>(() => SessionShards.Attach(s, "s", B, 50, 0));
    }

    [Fact]
    public void A_full_shard_refuses_with_a_typed_error_and_changes_nothing()
    {
        SessionShard? s = null;
        for (var n = 1; n <= SessionShards.MaxAttachedPerShard; n++)
        {
            s = SessionShards.Attach(s, "s", A, n, 0);
        }

        Assert.Throws<SessionFullException>(() => SessionShards.Attach(s, "s", B, SessionShards.MaxAttachedPerShard + 1, 0));
    }

    [Fact]
    public void An_ended_shard_is_deleted_once_everything_attached_was_told_and_a_missing_one_is_never_created_by_a_detach()
    {
        var ended = SessionShards.MarkEnded(Attached((A, 1), (B, 2)));
        Assert.NotNull(SessionShards.Told(ended, [new Attachment(A, 1)]));
        Assert.Null(SessionShards.Told(ended, [new Attachment(A, 1), new Attachment(B, 2)]));
        Assert.Null(SessionShards.Detach(null, A, 1));
        Assert.True(SessionShards.MarkEnded(null).Ended);
    }

    [Fact]
    public void A_holdings_shard_is_stable_and_spreads_names()
    {
        Assert.Equal(SessionShards.Of(Holding.Lock("orders/42")), SessionShards.Of(Holding.Lock("orders/42")));
        var used = Enumerable.Range(0, 5000).Select(i => SessionShards.Of(Holding.Lock($"orders/{i}"))).Distinct().Count();
        Assert.True(used > SessionShards.Count * 9 / 10, $"5000 names used only {used} of {SessionShards.Count} shards");
    }
}
