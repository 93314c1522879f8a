using Coordination.Client;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

public sealed class ClusterChangeSignalTests
{
    [Fact]
    public void Losing_a_gateway_wakes_calls_waiting_now_and_not_later_ones()
    {
        var signal = new ClusterChangeSignal(new FakeTimeProvider());
        var waiting = signal.Token;
        signal.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(2, 3));
        Assert.True(waiting.IsCancellationRequested, "a call parked before the loss was not woken");
        Assert.False(signal.Token.IsCancellationRequested, "a call parked after the loss would be woken at once");
    }

    [Fact]
    public void Gaining_a_gateway_wakes_nobody()
    {
        var signal = new ClusterChangeSignal(new FakeTimeProvider());
        var waiting = signal.Token;
        signal.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(3, 2));
        signal.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(3, 3));
        Assert.False(waiting.IsCancellationRequested);
        Assert.False(signal.Recent);
    }

    [Fact]
    public void Calls_stay_short_for_the_window_after_a_loss_and_park_again_after_it()
    {
        var time = new FakeTimeProvider();
        var signal = new ClusterChangeSignal(time);
        signal.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(2, 3));
        Assert.True(signal.Recent);
        time.Advance(ClusterChangeSignal.Window - TimeSpan.FromMilliseconds(1));
        Assert.True(signal.Recent);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(signal.Recent);
    }
}
