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

    [Fact]
    public async Task A_parked_call_gives_way_when_a_gateway_is_lost_and_not_when_the_caller_or_the_call_cancels()
    {
        var signal = new ClusterChangeSignal(new FakeTimeProvider());
        var answered = await signal.UnlessChangedAsync(signal.Token, Task.FromResult("granted"), TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal("granted", answered);

        var parked = new TaskCompletionSource<string>();
        var waiting = signal.UnlessChangedAsync(signal.Token, parked.Task, TimeSpan.FromSeconds(1), CancellationToken.None);
        signal.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(2, 3));
        Assert.Null(await waiting);

        // A loss between reading the token and sending the call still counts.
        var before = signal.Token;
        signal.Signal();
        Assert.Null(await signal.UnlessChangedAsync(before, new TaskCompletionSource<string>().Task, TimeSpan.FromSeconds(1), CancellationToken.None));

        using var cancel = new CancellationTokenSource();
        var cancelled = signal.UnlessChangedAsync(signal.Token, new TaskCompletionSource<string>().Task, TimeSpan.FromSeconds(1), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        // A call cancelled for another reason (the client shutting down) is not a gateway change.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => signal.UnlessChangedAsync(signal.Token, Task.FromCanceled<string>(new CancellationToken(true)), TimeSpan.FromSeconds(1), CancellationToken.None));
    }

    [Fact]
    public void Shortly_after_a_loss_calls_do_not_park()
    {
        var signal = new ClusterChangeSignal(new FakeTimeProvider());
        Assert.Equal(TimeSpan.FromSeconds(15), signal.Park(TimeSpan.FromSeconds(15)));
        signal.Signal();
        Assert.Equal(TimeSpan.Zero, signal.Park(TimeSpan.FromSeconds(15)));
    }
}
