using Coordination.Grains.Leases;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

public sealed class TimerGridTests
{
    public static TheoryData<string, long, int, int, int> Cases => new()
    {
        // now (ms on the clock), at least (ms), grid (ms) -> delay (ms)
        { "on a grid point: the minimum is itself a step", 1000, 250, 250, 250 },
        { "just past a point: up to the step after the minimum", 1001, 250, 250, 499 },
        { "just before a point", 1249, 250, 250, 251 },
        { "minimum shorter than the grid", 1100, 100, 1000, 900 },
        { "minimum longer than the grid", 1100, 5000, 1000, 5900 },
        { "zero minimum on a point: now", 2000, 0, 1000, 0 },
        { "negative minimum counts as zero", 2300, -50, 1000, 700 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Delays_end_on_the_first_grid_point_at_least_the_minimum_away(string because, long nowMs, int atLeastMs, int gridMs, int expectedMs)
    {
        // The Unix epoch is a whole second of the clock's ticks, so it is a point of every grid used here.
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        time.Advance(TimeSpan.FromMilliseconds(nowMs));
        var delay = TimerGrid.DelayTo(time, TimeSpan.FromMilliseconds(atLeastMs), TimeSpan.FromMilliseconds(gridMs));
        Assert.True(TimeSpan.FromMilliseconds(expectedMs) == delay, $"{because}: expected {expectedMs} ms, got {delay.TotalMilliseconds} ms");
    }

    [Fact]
    public void A_grid_of_zero_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TimerGrid.DelayTo(TimeProvider.System, TimeSpan.Zero, TimeSpan.Zero));
}
