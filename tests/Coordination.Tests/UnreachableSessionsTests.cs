using Coordination.Grains.Sessions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>Sessions retrying their registers are told for the silo a spell at a time, not in two lines per session.</summary>
public sealed class UnreachableSessionsTests
{
    private static readonly Exception NoMajority = new QuorumUnavailableException("s/x", 1, 2, "no majority");
    private readonly FakeTimeProvider _time = new();
    private readonly FakeLogger<UnreachableSessions> _logger = new();

    [Fact]
    public void A_spell_of_many_sessions_is_told_when_it_begins_and_when_the_last_one_reaches_its_register()
    {
        var sessions = new UnreachableSessions(_logger, _time);
        for (var i = 0; i < 1000; i++)
        {
            sessions.Unreachable($"session{i}", NoMajority);
        }

        var began = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Contains("first session session0's (QuorumUnavailableException: ", began.Message, StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < 999; i++)
        {
            sessions.Reached(failedAttempts: 1 + (i % 4));
        }

        Assert.Equal(1, _logger.Collector.Count);
        sessions.Gone();
        Assert.Equal(2, _logger.Collector.Count);
        Assert.Equal("Session registers reached again: 1000 sessions retried in a spell of 2.0 s, up to 4 failed attempts each", _logger.LatestRecord.Message);

        // The next failure begins a new spell, told again.
        sessions.Unreachable("session7", NoMajority);
        Assert.Equal(3, _logger.Collector.Count);
        Assert.Contains("first session session7's", _logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_spell_that_goes_on_is_told_again_at_most_once_per_interval()
    {
        var sessions = new UnreachableSessions(_logger, _time);
        sessions.Unreachable("a", NoMajority);
        _time.Advance(UnreachableSessions.Interval / 2);
        sessions.Unreachable("b", NoMajority);
        Assert.Equal(1, _logger.Collector.Count);

        _time.Advance(UnreachableSessions.Interval / 2);
        sessions.Unreachable("c", NoMajority);
        sessions.Unreachable("d", NoMajority);
        Assert.Equal(2, _logger.Collector.Count);
        Assert.StartsWith("3 sessions here still cannot reach their registers, 3 in this spell of 30 s", _logger.LatestRecord.Message, StringComparison.Ordinal);

        // All four reach their registers: the spell's end, told once. Another "reached" with none retrying tells nothing.
        for (var i = 0; i < 4; i++)
        {
            sessions.Reached(failedAttempts: 2);
        }

        Assert.Equal(3, _logger.Collector.Count);
        Assert.StartsWith("Session registers reached again: 4 sessions", _logger.LatestRecord.Message, StringComparison.Ordinal);
        sessions.Reached(failedAttempts: 2);
        Assert.Equal(3, _logger.Collector.Count);
    }
}
