using Coordination.Client;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>The client deadline rule (DESIGN.md invariant 5) on fake time: from the send, on both clocks, never back.</summary>
public sealed class SessionDeadlineTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(15);
    private static readonly CoordinationClientOptions Options = new();
    private static readonly TimeSpan Budget = SessionDeadline.Budget(Ttl, Options);

    [Theory]
    [InlineData(15000, 0.01, 500, 14350)]
    [InlineData(3000, 0.01, 200, 2770)]
    [InlineData(10000, 0, 0, 10000)]
    [InlineData(400, 0.01, 500, 0)]
    public void The_budget_is_ttl_less_drift_less_margin_and_never_negative(int ttlMs, double drift, int marginMs, int budgetMs)
    {
        var options = new CoordinationClientOptions { ClockDriftBound = drift, DeadlineMargin = TimeSpan.FromMilliseconds(marginMs) };
        Assert.Equal(TimeSpan.FromMilliseconds(budgetMs), SessionDeadline.Budget(TimeSpan.FromMilliseconds(ttlMs), options));
    }

    [Fact]
    public void A_slow_keepalive_reply_extends_the_deadline_from_the_send_and_the_broken_variant_from_the_reply()
    {
        var time = new FakeTimeProvider();
        var deadline = New(time, ClientFaults.None, out _);
        var broken = New(time, new ClientFaults { DeadlineFromReceipt = true }, out _);
        time.Advance(TimeSpan.FromSeconds(5));
        var sent = ClockReading.Now(time);
        time.Advance(TimeSpan.FromSeconds(2));

        deadline.Acknowledged(sent);
        broken.Acknowledged(sent);

        Assert.Equal(Budget - TimeSpan.FromSeconds(2), deadline.Remaining);
        Assert.Equal(Budget, broken.Remaining);
    }

    [Fact]
    public void The_deadline_never_moves_back()
    {
        var time = new FakeTimeProvider();
        var old = ClockReading.Now(time);
        time.Advance(TimeSpan.FromSeconds(1));
        var deadline = New(time, ClientFaults.None, out _);
        var before = deadline.Timestamp;
        deadline.Acknowledged(old);
        Assert.Equal(before, deadline.Timestamp);
        Assert.Equal(Budget, deadline.Remaining);
    }

    [Fact]
    public void When_the_monotonic_clock_stops_in_a_suspend_the_wall_clock_ends_the_deadline()
    {
        var time = new SuspendableTimeProvider();
        var deadline = New(time, ClientFaults.None, out var passed);
        var monotonic = time.GetTimestamp();
        time.Suspended = Budget;
        Assert.Equal(monotonic, time.GetTimestamp());
        Assert.Equal(TimeSpan.Zero, deadline.Remaining);
        Assert.True(deadline.CheckPassed());
        Assert.Equal(1, passed.Count);
    }

    [Fact]
    public void The_timer_calls_back_when_the_deadline_passes_and_a_lost_session_stays_at_zero()
    {
        var time = new FakeTimeProvider();
        using var lost = new CancellationTokenSource();
        var passed = new Counter();
        using var deadline = new SessionDeadline(ClockReading.Now(time), Ttl, Options, time, lost.Token, passed.Increment);
        time.Advance(Budget - TimeSpan.FromTicks(1));
        Assert.Equal(0, passed.Count);
        time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(1, passed.Count);

        lost.Cancel();
        deadline.Acknowledged(ClockReading.Now(time));
        Assert.Equal(TimeSpan.Zero, deadline.Remaining);
    }

    private static SessionDeadline New(TimeProvider time, ClientFaults faults, out Counter passed)
    {
        var counter = new Counter();
        passed = counter;
        return faults.NewDeadline(ClockReading.Now(time), Ttl, Options, time, CancellationToken.None, counter.Increment);
    }

    private sealed class Counter
    {
        public int Count { get; private set; }

        public void Increment() => Count++;
    }

    /// <summary>Fake time whose wall clock runs on by <see cref="Suspended"/> while its monotonic clock stood still.</summary>
    private sealed class SuspendableTimeProvider : FakeTimeProvider
    {
        public TimeSpan Suspended { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Suspended;

        // FakeTimeProvider derives its timestamps from GetUtcNow: take the suspend back out of them.
        public override long GetTimestamp() => base.GetTimestamp() - (long)(Suspended.TotalSeconds * TimestampFrequency);
    }
}
