using Coordination.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>The parked-call loop shared by acquire and campaign, against scripted replies on fake time.</summary>
public sealed class ParkedCallLoopTests
{
    private static readonly CoordinationClientOptions Options = new() { MaxPark = TimeSpan.FromSeconds(5), CallGrace = TimeSpan.FromSeconds(2) };
    private readonly FakeTimeProvider _time = new();
    private readonly ClusterChangeSignal _changes;
    private readonly CoordinationSession _session;
    private readonly List<TimeSpan> _parks = [];
    private int _withdrawn;

    public ParkedCallLoopTests()
    {
        _changes = new ClusterChangeSignal(_time);
        var info = new SessionInfo("session", "tag", TimeSpan.FromHours(1), SessionStatus.Alive, 0);
        _session = new CoordinationSession(null!, info, ClockReading.Now(_time), Options, _time, NullLogger.Instance, _changes, ClientFaults.None);
    }

    [Fact]
    public async Task Queued_replies_are_asked_again_parked_for_what_is_left_until_granted_and_nothing_is_withdrawn()
    {
        var replies = new Queue<ParkedReply>([ParkedReply.Queued, ParkedReply.Queued, ParkedReply.Granted]);
        var grant = await RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(3), _ => Task.FromResult(new Reply(replies.Dequeue())));
        Assert.NotNull(grant);
        Assert.Equal([TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3)], _parks);
        Assert.Equal(0, _withdrawn);
    }

    [Fact]
    public async Task Without_a_deadline_each_call_parks_at_most_the_maximum()
    {
        var replies = new Queue<ParkedReply>([ParkedReply.Queued, ParkedReply.Granted]);
        var grant = await RunAsync(AcquireMode.Wait, Timeout.InfiniteTimeSpan, _ => Task.FromResult(new Reply(replies.Dequeue())));
        Assert.NotNull(grant);
        Assert.Equal([Options.MaxPark, Options.MaxPark], _parks);
    }

    [Fact]
    public async Task Asked_if_available_a_clear_not_available_is_null_without_parking_or_withdrawing()
    {
        Assert.Null(await RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ => Task.FromResult(new Reply(ParkedReply.NotAvailable))));
        Assert.Equal([TimeSpan.Zero], _parks);
        Assert.Equal(0, _withdrawn);
    }

    [Fact]
    public async Task Calls_abandoned_only_for_gateway_losses_end_in_cluster_unavailable_at_the_deadline_and_are_withdrawn()
    {
        // Every call is parked at a silo whose gateway is lost at once: no reply ever arrives.
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(10), _ =>
        {
            _changes.Signal();
            _time.Advance(TimeSpan.FromSeconds(1));
            return new TaskCompletionSource<Reply>().Task;
        }));
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Equal(TimeSpan.FromSeconds(5), _parks[0]);
        Assert.All(_parks.Skip(1), p => Assert.Equal(TimeSpan.Zero, p));
        Assert.Equal(1, _withdrawn);
    }

    [Fact]
    public async Task Cancelling_a_parked_call_withdraws_the_request()
    {
        using var cancel = new CancellationTokenSource();
        var waiting = RunAsync(AcquireMode.Wait, Timeout.InfiniteTimeSpan, _ => new TaskCompletionSource<Reply>().Task, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(1, _withdrawn);
    }

    [Fact]
    public async Task A_lost_session_is_refused_before_anything_is_sent()
    {
        _time.Advance(_session.Ttl);
        Assert.True(_session.IsLost);
        await Assert.ThrowsAsync<SessionExpiredException>(() => RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(1), _ => Task.FromResult(new Reply(ParkedReply.Granted))));
        Assert.Empty(_parks);
    }

    private Task<CoordinationLockHandle?> RunAsync(AcquireMode mode, TimeSpan timeout, Func<TimeSpan, Task<Reply>> send, CancellationToken cancellationToken = default)
    {
        var request = new ParkedRequest<Reply, CoordinationLockHandle>(
            "acquire of 'test'",
            park =>
            {
                _parks.Add(park);
                return send(park);
            },
            reply => reply.Status,
            _ => new CoordinationLockHandle(_session.CreateLock("test"), null!, _session, Guid.NewGuid(), 1),
            () =>
            {
                _withdrawn++;
                return Task.FromResult(CancelOutcome.NotFound);
            });
        var deadline = Deadline.FromNow(timeout, _time);
        return ParkedCallLoop.RunAsync(_session, request, mode, deadline, Options, _time, cancellationToken);
    }

    private sealed record Reply(ParkedReply Status);
}
