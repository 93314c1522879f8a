using Coordination.Client;

namespace Coordination.Tests;

/// <summary>
/// A change retried after a lost reply tells the register the latest revision its handle saw before the first
/// attempt, and only the retries do: the register then fails it as unknown rather than applying it twice once it has
/// forgotten the changes since (CI's counter linearizability test caught an add retried 28,000 changes later
/// applied a second time).
/// </summary>
public sealed class SeenRevisionTests
{
    private static readonly CoordinationClientOptions Options = new() { RetryDelay = TimeSpan.FromMilliseconds(1) };

    [Fact]
    public async Task The_first_attempt_says_nothing_and_each_retry_names_the_revision_seen_before_the_first()
    {
        var seen = new SeenRevision();
        seen.Saw(41);
        seen.Saw(17);
        var sent = new List<long?>();
        var result = await seen.ChangeAsync(
            since =>
            {
                sent.Add(since);

                // The first attempt is applied at 42 and its reply lost; a later reply makes the handle see more meanwhile.
                seen.Saw(50);
                return sent.Count < 3 ? Task.FromException<int>(new TimeoutException("reply lost")) : Task.FromResult(7);
            },
            reply => 60 + reply,
            Options,
            TimeProvider.System,
            CancellationToken.None);

        Assert.Equal(7, result);
        Assert.Equal([null, 41, 41], sent);
        Assert.Equal(67, seen.Latest); // the reply's revision is noted too
    }

    [Fact]
    public async Task A_handle_that_saw_nothing_retries_since_zero()
    {
        var seen = new SeenRevision();
        var sent = new List<long?>();
        await seen.ChangeAsync(
            since =>
            {
                sent.Add(since);
                return sent.Count < 2 ? Task.FromException<int>(new QuorumUnavailableException("k", 1, 2, "no majority")) : Task.FromResult(0);
            },
            _ => 0,
            Options,
            TimeProvider.System,
            CancellationToken.None);
        Assert.Equal([null, 0L], sent);
    }

    [Fact]
    public void Handles_of_one_name_share_what_they_saw_and_the_table_stays_bounded()
    {
        var seen = new SeenRevisions();
        seen.For('c', "orders").Saw(12);
        Assert.Equal(12, seen.For('c', "orders").Latest);
        Assert.Equal(0, seen.For('v', "orders").Latest);
        for (var i = 0; i < SeenRevisions.Capacity; i++)
        {
            seen.For('c', $"n{i}");
        }

        // Past the capacity it starts afresh: a name seen before retries since 0, which is only more cautious.
        Assert.Equal(0, seen.For('c', "orders").Latest);
    }
}
