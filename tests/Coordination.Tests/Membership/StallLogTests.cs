using System.Collections.Concurrent;
using Coordination.Membership.Hosting;
using Coordination.Membership.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Membership;

/// <summary>Repeated warnings are rate-limited and summarised: at most one per interval, saying how many were held back.</summary>
public sealed class StallLogTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    [Fact]
    public void The_throttle_lets_one_entry_through_per_interval_and_counts_the_rest()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(Interval, time);

        Assert.True(throttle.TryEnter(out var first));
        Assert.Equal(0, first);
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            Assert.False(throttle.TryEnter(out _), $"an entry {5 * (i + 1)} s after the last one logged was let through");
        }

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(throttle.TryEnter(out var summary), "an entry a full interval after the last one logged was held back");
        Assert.Equal(5, summary);

        time.Advance(Interval);
        Assert.True(throttle.TryEnter(out var after));
        Assert.Equal(0, after);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_throttle_needs_a_positive_interval(int seconds) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogThrottle(TimeSpan.FromSeconds(seconds), TimeProvider.System));

    [Fact]
    public async Task A_probe_timer_late_at_every_tick_warns_once_per_interval_with_the_count_held_back()
    {
        var time = new FakeTimeProvider();
        var options = ProbeOptions.Local();
        var logger = new ListLogger();
        var ticker = new ProbeTicker(new LockedSwimNode(new MemberId("m0"), options, time), options, time, _ => { }, logger);
        using var stop = new CancellationTokenSource();
        var run = ticker.RunAsync(stop.Token);

        // Each step makes the next tick seconds late (far beyond the probe timeout): a stall, seen by the ticker.
        var step = TimeSpan.FromSeconds(3);
        var stallsWithinInterval = (int)(ProbeTicker.StallLogInterval / step);
        for (var i = 1; i <= stallsWithinInterval; i++)
        {
            time.Advance(step);
            await Eventually.Async(() => Task.FromResult(ticker.Stalls == i), TimeSpan.FromSeconds(10), $"stall {i} seen by the ticker");
        }

        Assert.Single(logger.Warnings);
        time.Advance(ProbeTicker.StallLogInterval);
        await Eventually.Async(() => Task.FromResult(logger.Warnings.Count == 2), TimeSpan.FromSeconds(10), "a second warning once the interval has passed");
        await stop.CancelAsync();
        await run;
        Assert.Contains($"({stallsWithinInterval - 1} more since the last such warning", logger.Warnings.Last(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deadline_the_node_set_before_the_loop_began_is_not_a_stall()
    {
        var time = new FakeTimeProvider();
        var options = ProbeOptions.Local();
        var logger = new ListLogger();
        var node = new LockedSwimNode(new MemberId("m0"), options, time);
        var ticker = new ProbeTicker(node, options, time, _ => { }, logger);

        // As in a starting silo: the node is made and fed its membership (its first probe due at once), and the loop
        // begins seconds later, once the rest of the silo has started.
        node.Run((n, now) => n.Tick(now));
        time.Advance(TimeSpan.FromSeconds(4));
        using var stop = new CancellationTokenSource();
        var run = ticker.RunAsync(stop.Token);
        time.Advance(options.TickInterval);
        await Eventually.Async(() => Task.FromResult(ticker.Steps >= 1), TimeSpan.FromSeconds(10), "the loop's first step");
        Assert.Equal(0, ticker.Stalls);
        Assert.Empty(logger.Warnings);

        // A step the loop itself missed still is one.
        time.Advance(TimeSpan.FromSeconds(3));
        await Eventually.Async(() => Task.FromResult(ticker.Stalls == 1), TimeSpan.FromSeconds(10), "a stall of the loop after it began");
        await stop.CancelAsync();
        await run;
    }

    private sealed class ListLogger : ILogger
    {
        private readonly ConcurrentQueue<string> _warnings = new();

        public IReadOnlyCollection<string> Warnings => _warnings;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning)
            {
                _warnings.Enqueue(formatter(state, exception));
            }
        }
    }
}
