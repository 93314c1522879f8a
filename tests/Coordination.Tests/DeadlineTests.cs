using Coordination.Client;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

public sealed class DeadlineTests
{
    [Theory]
    [InlineData(5000, 0, 5000, false)]
    [InlineData(5000, 2000, 3000, false)]
    [InlineData(5000, 4999, 1, false)]
    [InlineData(5000, 5000, 0, true)]
    [InlineData(5000, 9000, 0, true)]
    [InlineData(0, 0, 0, true)]
    public void Remaining_counts_down_from_the_start_and_stops_at_zero(int spanMs, int advanceMs, int remainingMs, bool passed)
    {
        var time = new FakeTimeProvider();
        var deadline = Deadline.FromNow(TimeSpan.FromMilliseconds(spanMs), time);
        time.Advance(TimeSpan.FromMilliseconds(advanceMs));
        Assert.Equal(TimeSpan.FromMilliseconds(remainingMs), deadline.Remaining);
        Assert.Equal(TimeSpan.FromMilliseconds(advanceMs), deadline.Elapsed);
        Assert.Equal(passed, deadline.IsPassed);
    }

    [Fact]
    public void An_infinite_deadline_never_passes_and_caps_to_any_finite_span()
    {
        var time = new FakeTimeProvider();
        var deadline = Deadline.Infinite(time);
        time.Advance(TimeSpan.FromDays(365));
        Assert.True(deadline.IsInfinite);
        Assert.False(deadline.IsPassed);
        Assert.Equal(TimeSpan.MaxValue, deadline.Remaining);
        Assert.Equal(long.MaxValue, deadline.Timestamp);
        Assert.Equal(TimeSpan.FromDays(365), deadline.Elapsed);
    }

    [Fact]
    public void A_deadline_after_a_timestamp_is_that_timestamp_plus_its_span_in_the_providers_ticks()
    {
        var time = new FakeTimeProvider();
        var start = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(1));
        var deadline = Deadline.After(start, TimeSpan.FromSeconds(3), time);
        Assert.Equal(start + (3 * time.TimestampFrequency), deadline.Timestamp);
        Assert.Equal(TimeSpan.FromSeconds(2), deadline.Remaining);
    }

    [Fact]
    public void A_negative_span_is_refused_rather_than_read_as_never()
    {
        var time = new FakeTimeProvider();
        Assert.Throws<ArgumentOutOfRangeException>(() => Deadline.FromNow(TimeSpan.FromMilliseconds(-2), time));
        Assert.Throws<ArgumentOutOfRangeException>(() => Deadline.FromNow(TimeSpan.FromSeconds(-1), time));
    }
}
