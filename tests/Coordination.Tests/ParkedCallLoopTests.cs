using System.Diagnostics;
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
    private readonly List<ParkedAttempt> _attempts = [];
    private readonly List<long> _markAtWithdrawal = [];
    private Func<Task<CancelOutcome>> _withdraw = () => Task.FromResult(CancelOutcome.NotFound);
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
        Assert.Equal(1, _session.Requests.SettledThrough);
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

    [Fact]
    public async Task Every_attempt_carries_the_number_and_the_mark_and_a_queued_or_granted_request_no_longer_holds_the_mark_back()
    {
        var replies = new Queue<ParkedReply>([ParkedReply.Queued, ParkedReply.Queued, ParkedReply.Granted]);
        var held = await RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(3), _ => Task.FromResult(new Reply(replies.Dequeue())));
        Assert.Equal([new(TimeSpan.FromSeconds(3), 1, 0), new(TimeSpan.FromSeconds(3), 1, 1), new(TimeSpan.FromSeconds(3), 1, 1)], _attempts);

        // The first grant is still held: the next request is numbered 2 and the mark moves past it too.
        Assert.NotNull(await RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ => Task.FromResult(new Reply(ParkedReply.Granted))));
        Assert.Equal(new ParkedAttempt(TimeSpan.Zero, 2, 1), _attempts[^1]);
        Assert.False(held!.IsLost);
        Assert.Equal(2, _session.Requests.SettledThrough);
        Assert.Equal(0, _withdrawn);
    }

    /// <summary>
    /// A try-acquire whose first attempt went unanswered may still be queued by that attempt later: after "not
    /// available" it is withdrawn first, and its number settled only then. A "no majority" reply is an answer.
    /// </summary>
    [Theory]
    [InlineData("gateway lost", true)]
    [InlineData("call timed out", true)]
    [InlineData("Orleans runtime error", true)]
    [InlineData("no majority", false)]
    public async Task A_not_available_after_an_unanswered_attempt_is_withdrawn_before_its_number_is_settled(string firstAttempt, bool withdrawnFirst)
    {
        var calls = 0;
        var run = RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ => calls++ > 0 ? Task.FromResult(new Reply(ParkedReply.NotAvailable)) : firstAttempt switch
        {
            "gateway lost" => GatewayLost(),
            "call timed out" => Task.FromException<Reply>(new TimeoutException()),
            "Orleans runtime error" => Task.FromException<Reply>(new OrleansException("the gateway closed the connection")),
            _ => Task.FromException<Reply>(new QuorumUnavailableException("test", 1, 2, "one replica answered")),
        });
        _time.Advance(Options.RetryDelay);

        Assert.Null(await run);
        Assert.All(_attempts, a => Assert.Equal(1, a.Sequence));
        Assert.Equal(withdrawnFirst ? [0] : [], _markAtWithdrawal);
        Assert.Equal(1, _session.Requests.SettledThrough);
        Assert.Equal(0, _session.Requests.Unsettled);
    }

    /// <summary>A typed refusal is the cluster's last word: settled at once if every attempt was answered, else once withdrawn (it is withdrawn either way, as before).</summary>
    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 0)]
    public async Task A_refusal_settles_the_number_at_once_unless_an_earlier_attempt_went_unanswered(bool firstUnanswered, long markAtWithdrawal)
    {
        var calls = 0;
        await Assert.ThrowsAsync<QueueFullException>(() => RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ =>
            firstUnanswered && calls++ == 0 ? GatewayLost() : Task.FromException<Reply>(new QueueFullException("test", "64 waiters"))));
        Assert.Equal([markAtWithdrawal], _markAtWithdrawal);
        Assert.Equal(1, _session.Requests.SettledThrough);
    }

    [Fact]
    public async Task A_withdrawal_the_cluster_does_not_answer_in_time_holds_the_mark_back_until_answered_in_the_background()
    {
        var answering = false;
        _withdraw = () => answering ? Task.FromResult(CancelOutcome.Dequeued) : Task.FromException<CancelOutcome>(new QuorumUnavailableException("test", 1, 2, "one replica answered"));
        var calls = 0;
        var run = RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ => calls++ == 0 ? GatewayLost() : Task.FromResult(new Reply(ParkedReply.NotAvailable)));

        await AdvanceUntilAsync(() => run.IsCompleted, "the try-acquire to hand its withdrawal to the background after the cleanup budget");
        Assert.Null(await run);
        Assert.Equal(0, _session.Requests.SettledThrough);

        answering = true;
        await AdvanceUntilAsync(() => _session.Requests.SettledThrough == 1, "the background withdrawal, once answered, to settle number 1");
        Assert.Equal(0, _session.Requests.Unsettled);
    }

    /// <summary>A call parked at a silo whose gateway the client loses at once: abandoned without a reply.</summary>
    private Task<Reply> GatewayLost()
    {
        _changes.Signal();
        return new TaskCompletionSource<Reply>().Task;
    }

    /// <summary>Advances fake time a retry delay at a time until <paramref name="done"/>; fails after 10 s of real time.</summary>
    private async Task AdvanceUntilAsync(Func<bool> done, string expectation)
    {
        var started = Stopwatch.GetTimestamp();
        while (!done())
        {
            Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(10), $"Expected within 10 s: {expectation}.");
            _time.Advance(Options.RetryDelay);
            await Task.Delay(TimeSpan.FromMilliseconds(1), TimeProvider.System);
        }
    }

    private Task<CoordinationLockHandle?> RunAsync(AcquireMode mode, TimeSpan timeout, Func<TimeSpan, Task<Reply>> send, CancellationToken cancellationToken = default)
    {
        var request = new ParkedRequest<Reply, CoordinationLockHandle>(
            "acquire of 'test'",
            attempt =>
            {
                _parks.Add(attempt.Park);
                _attempts.Add(attempt);
                return send(attempt.Park);
            },
            reply => reply.Status,
            _ => new CoordinationLockHandle(_session.CreateLock("test"), null!, _session, Guid.NewGuid(), 1),
            _ =>
            {
                _withdrawn++;
                _markAtWithdrawal.Add(_session.Requests.SettledThrough);
                return _withdraw();
            });
        var deadline = Deadline.FromNow(timeout, _time);
        return ParkedCallLoop.RunAsync(_session, request, mode, deadline, Options, _time, cancellationToken);
    }

    private sealed record Reply(ParkedReply Status);
}
