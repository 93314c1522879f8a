using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

public sealed class BackoffTests
{
    public static TheoryData<string, int, int, double, int[]> Sequences => new()
    {
        // The loops' own settings: each row is the sequence that loop waited before it used Backoff.
        { "session read after activation", 100, 2000, 2, [100, 200, 400, 800, 1600, 2000, 2000] },
        { "session release of holdings", 50, 2000, 2, [50, 100, 200, 400, 800, 1600, 2000, 2000] },
        { "failover ping (200 << min(attempt, 4))", 200, 3200, 2, [200, 400, 800, 1600, 3200, 3200, 3200, 3200] },
        { "replica recovery (defaults)", 50, 1000, 2, [50, 100, 200, 400, 800, 1000, 1000] },
        { "cross-process file lock", 1, 20, 2, [1, 2, 4, 8, 16, 20, 20] },
        { "a factor of 1 is a constant delay", 300, 5000, 1, [300, 300, 300, 300] },
        { "a factor of 3", 10, 500, 3, [10, 30, 90, 270, 500, 500] },
        { "the cap bounds the growth, not the first delay", 50, 20, 2, [50, 20, 20] },
        { "a cap equal to the first delay holds it", 40, 40, 2, [40, 40, 40] },
        { "zero stays zero", 0, 1000, 2, [0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(Sequences))]
    public void Delays_grow_by_the_factor_up_to_the_cap(string because, int initialMs, int maximumMs, double factor, int[] expectedMs)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(maximumMs), factor);
        var delays = expectedMs.Select(_ => (int)backoff.NextDelay().TotalMilliseconds).ToArray();
        Assert.True(expectedMs.SequenceEqual(delays), $"{because}: expected [{string.Join(", ", expectedMs)}], got [{string.Join(", ", delays)}]");
        Assert.Equal(expectedMs.Length, backoff.Attempts);
        for (var n = 0; n < expectedMs.Length; n++)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(expectedMs[n]), backoff.Nominal(n));
        }
    }

    [Theory]
    [InlineData(1, 20, 64)]
    [InlineData(200, 3200, 10_000)]
    [InlineData(50, 1000, int.MaxValue)]
    public void A_long_run_stays_at_the_cap_instead_of_overflowing(int initialMs, int maximumMs, int attempt)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(maximumMs));
        Assert.Equal(TimeSpan.FromMilliseconds(maximumMs), backoff.Nominal(attempt));
    }

    /// <summary>The proposer's contention pause: the draws and delays of <c>random.NextDouble() * min(max ms, 2^attempt)</c>, its formula before Backoff.</summary>
    [Theory]
    [InlineData(1, 20.0)]
    [InlineData(7, 3.0)]
    [InlineData(42, 20.0)]
    [InlineData(5, 1.0)]
    [InlineData(9, 0.5)]
    public void Full_jitter_draws_a_uniform_moment_below_the_delay_as_the_proposer_did(int seed, double maxConflictMs)
    {
        var maxConflict = TimeSpan.FromMilliseconds(maxConflictMs);
        var backoff = new Backoff(TimeSpan.FromMilliseconds(1), maxConflict, jitter: BackoffJitter.Full, random: new Random(seed));
        var before = new Random(seed);
        for (var attempt = 1; attempt <= 12; attempt++)
        {
            var maxMs = Math.Min(maxConflict.TotalMilliseconds, Math.Pow(2, attempt));
            var delay = backoff.DelayFor(attempt);
            Assert.Equal(TimeSpan.FromMilliseconds(before.NextDouble() * maxMs), delay);
            Assert.InRange(delay, TimeSpan.Zero, TimeSpan.FromMilliseconds(maxMs));
        }
    }

    /// <summary>The replica's recovery report: <c>delay + Next(0, max(1, delay ms))</c> ms with the delay doubling up to the cap, its formula before Backoff.</summary>
    [Theory]
    [InlineData(1, 50, 1000)]
    [InlineData(17, 2, 20)]
    [InlineData(3, 0, 5)]
    public void Added_jitter_adds_up_to_one_more_delay_in_whole_milliseconds_as_the_replica_did(int seed, int initialMs, int maximumMs)
    {
        var initial = TimeSpan.FromMilliseconds(initialMs);
        var maximum = TimeSpan.FromMilliseconds(maximumMs);
        var backoff = new Backoff(initial, maximum, jitter: BackoffJitter.Added, random: new Random(seed));
        var before = new Random(seed);
        var delay = initial;
        for (var attempt = 0; attempt < 12; attempt++)
        {
            var expected = delay + TimeSpan.FromMilliseconds(before.Next(0, (int)Math.Max(1, delay.TotalMilliseconds)));
            var actual = backoff.NextDelay();
            Assert.Equal(expected, actual);
            Assert.InRange(actual, delay, delay + delay + TimeSpan.FromMilliseconds(1));
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, maximum.Ticks));
        }
    }

    [Theory]
    [InlineData(nameof(BackoffJitter.None), 0)]
    [InlineData(nameof(BackoffJitter.Full), 1)]
    [InlineData(nameof(BackoffJitter.Added), 1)]
    public void Each_delay_draws_once_with_jitter_and_never_without(string jitter, int drawsPerDelay)
    {
        var random = new CountingRandom();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100), jitter: Enum.Parse<BackoffJitter>(jitter), random: random);
        _ = backoff.Nominal(3);
        Assert.Equal(0, random.Draws);
        for (var n = 1; n <= 5; n++)
        {
            backoff.NextDelay();
            Assert.Equal(n * drawsPerDelay, random.Draws);
        }
    }

    [Fact]
    public async Task DelayAsync_waits_each_delay_on_the_time_provider_and_then_grows_it()
    {
        var time = new FakeTimeProvider();
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
        foreach (var ms in new[] { 100, 200, 400 })
        {
            var wait = backoff.DelayAsync(time);
            time.Advance(TimeSpan.FromMilliseconds(ms - 1));
            Assert.False(wait.IsCompleted, $"the {ms} ms delay ended early");
            time.Advance(TimeSpan.FromMilliseconds(1));
            await wait.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task DelayAsync_ends_on_cancellation()
    {
        using var cancel = new CancellationTokenSource();
        var backoff = new Backoff(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        var wait = backoff.DelayAsync(new FakeTimeProvider(), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public void Bad_settings_are_refused_when_the_backoff_is_made()
    {
        var ms = TimeSpan.FromMilliseconds(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(-ms, ms));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(ms, -ms));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(ms, ms, factor: 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(ms, ms, factor: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(ms, ms, factor: double.PositiveInfinity));
        Assert.Throws<ArgumentNullException>(() => new Backoff(ms, ms, jitter: BackoffJitter.Full));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(ms, ms).Nominal(-1));
    }

    private sealed class CountingRandom() : Random(1)
    {
        public int Draws { get; private set; }

        public override double NextDouble()
        {
            Draws++;
            return base.NextDouble();
        }

        public override int Next(int minValue, int maxValue)
        {
            Draws++;
            return base.Next(minValue, maxValue);
        }
    }
}
