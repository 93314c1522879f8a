using Coordination.Client;

namespace Coordination.Tests;

/// <summary>The parked-call loop shared by acquire and campaign, against scripted replies on fake time.</summary>
public sealed class ParkedCallLoopTests
{
    private static readonly CoordinationClientOptions Options = new() { MaxPark = TimeSpan.FromSeconds(5), CallGrace = TimeSpan.FromSeconds(2) };
    private readonly ClientOnFakeTime _client = new(Options);
    private readonly List<TimeSpan> _parks = [];
    private readonly List<ParkedAttempt> _attempts = [];
    private readonly List<long> _markAtWithdrawal = [];
    private Func<Task<CancelOutcome>> _withdraw = () => Task.FromResult(CancelOutcome.NotFound);
    private int _withdrawn;

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
        Assert.Equal(1, _client.Session.Requests.SettledThrough);
    }

    [Fact]
    public async Task Calls_abandoned_only_for_gateway_losses_end_in_cluster_unavailable_at_the_deadline_and_are_withdrawn()
    {
        // Every call is parked at a silo whose gateway is lost at once: no reply ever arrives.
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(10), _ =>
        {
            _client.Changes.Signal();
            _client.Time.Advance(TimeSpan.FromSeconds(1));
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

    /// <summary>A request cancelled before its first call sends nothing (no candidate elected for a moment, no withdrawal) and holds no number back.</summary>
    [Fact]
    public async Task A_request_cancelled_before_it_is_sent_sends_nothing_and_settles_its_number()
    {
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunAsync(AcquireMode.Wait, Timeout.InfiniteTimeSpan, _ => Task.FromResult(new Reply(ParkedReply.Granted)), cancel.Token));
        Assert.Empty(_parks);
        Assert.Equal(0, _withdrawn);
        Assert.Equal(0, _client.Session.Requests.Unsettled);
        Assert.Equal(1, _client.Session.Requests.SettledThrough);
    }

    [Fact]
    public async Task A_lost_session_is_refused_before_anything_is_sent()
    {
        _client.Time.Advance(_client.Session.Ttl);
        Assert.True(_client.Session.IsLost);
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
        Assert.Equal(2, _client.Session.Requests.SettledThrough);
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
        _client.Time.Advance(Options.RetryDelay);

        Assert.Null(await run);
        Assert.All(_attempts, a => Assert.Equal(1, a.Sequence));
        Assert.Equal(withdrawnFirst ? [0] : [], _markAtWithdrawal);
        Assert.Equal(1, _client.Session.Requests.SettledThrough);
        Assert.Equal(0, _client.Session.Requests.Unsettled);
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
        Assert.Equal(1, _client.Session.Requests.SettledThrough);
    }

    [Fact]
    public async Task A_withdrawal_the_cluster_does_not_answer_in_time_holds_the_mark_back_until_answered_in_the_background()
    {
        var answering = false;
        _withdraw = () => answering ? Task.FromResult(CancelOutcome.Dequeued) : Task.FromException<CancelOutcome>(new QuorumUnavailableException("test", 1, 2, "one replica answered"));
        var calls = 0;
        var run = RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ => calls++ == 0 ? GatewayLost() : Task.FromResult(new Reply(ParkedReply.NotAvailable)));

        await _client.AdvanceUntilAsync(() => run.IsCompleted, "the try-acquire to hand its withdrawal to the background after its budget");
        Assert.Null(await run);
        Assert.Equal(0, _client.Session.Requests.SettledThrough);

        answering = true;
        await _client.AdvanceUntilAsync(() => _client.Session.Requests.SettledThrough == 1, "the background withdrawal, once answered, to settle number 1");
        Assert.Equal(0, _client.Session.Requests.Unsettled);
    }

    /// <summary>
    /// A timeout bounds the call (DistributedLock's and Curator's users rely on it): a request still queued at its
    /// deadline, whose withdrawal the cluster does not answer (a failover under way), returns by the deadline plus the
    /// call grace, and the withdrawal goes on in the background (before, the caller waited out the 10 s cleanup budget).
    /// </summary>
    [Fact]
    public async Task A_timed_out_request_whose_withdrawal_goes_unanswered_returns_by_its_deadline_plus_the_call_grace()
    {
        _withdraw = () => new TaskCompletionSource<CancelOutcome>().Task;
        var started = _client.Time.GetTimestamp();
        var run = RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(3), ParkedThenQueued);

        await _client.AdvanceUntilAsync(() => run.IsCompleted, "the timed-out acquire to return");
        Assert.Null(await run);
        var took = _client.Time.GetElapsedTime(started);
        Assert.True(took <= TimeSpan.FromSeconds(3) + Options.CallGrace + Options.RetryDelay, $"a 3 s acquire whose withdrawal went unanswered returned after {took}");
        Assert.Equal(0, _client.Session.Requests.Unsettled);
        Assert.True(_withdrawn >= 1);

        // Still withdrawn in the background until the cluster answers.
        var before = _withdrawn;
        _withdraw = () => Task.FromResult(CancelOutcome.Dequeued);
        await _client.AdvanceUntilAsync(() => _withdrawn > before, "the background withdrawal to ask again");
    }

    /// <summary>
    /// A wait whose timeout the session's reopening used up still asks the cluster once, without parking: "not
    /// acquired" is only ever the cluster's answer. With no time left even for that, it is a typed error.
    /// </summary>
    [Fact]
    public async Task A_wait_whose_deadline_passed_before_its_first_call_still_asks_once_and_past_the_grace_is_a_typed_error()
    {
        var deadline = Deadline.FromNow(TimeSpan.FromMilliseconds(300), _client.Time);
        _client.Time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.NotNull(await RunAsync(AcquireMode.Wait, deadline, _ => Task.FromResult(new Reply(ParkedReply.Granted))));
        Assert.Equal([TimeSpan.Zero], _parks);

        var spent = Deadline.FromNow(TimeSpan.FromMilliseconds(300), _client.Time);
        _client.Time.Advance(TimeSpan.FromMilliseconds(300) + Options.CallGrace);
        await Assert.ThrowsAsync<ClusterUnavailableException>(() => RunAsync(AcquireMode.Wait, spent, _ => Task.FromResult(new Reply(ParkedReply.Granted))));
        Assert.Single(_parks);
    }

    /// <summary>A try-acquire that meets no majority asks again with backoff for the call grace, not back to back.</summary>
    [Fact]
    public async Task A_try_acquire_through_an_outage_backs_off_and_ends_at_the_call_grace()
    {
        var started = _client.Time.GetTimestamp();
        var sentAt = new System.Collections.Concurrent.ConcurrentQueue<TimeSpan>();

        // On the thread pool: a loop that asked back to back, its failures completing at once, would never let this thread go.
        var run = Task.Run(() => RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, _ =>
        {
            sentAt.Enqueue(_client.Time.GetElapsedTime(started));
            return Task.FromException<Reply>(new QuorumUnavailableException("test", 1, 2, "one replica answered"));
        }));

        await _client.AdvanceUntilAsync(() => run.IsCompleted, "the try-acquire to give up");
        await Assert.ThrowsAsync<QuorumUnavailableException>(() => run);
        Assert.InRange(sentAt.Count, 2, 6);
        Assert.All(sentAt, at => Assert.True(at < Options.CallGrace, $"asked again {at} after the start, past the call grace"));
    }

    /// <summary>A cancelled wait whose withdrawal hangs, at once or after fast failures (its own retries keep to its budget).</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public async Task A_cancelled_wait_whose_withdrawal_goes_unanswered_returns_within_the_call_grace(int fastFailures)
    {
        var withdrawals = 0;
        _withdraw = () => ++withdrawals <= fastFailures
            ? Task.FromException<CancelOutcome>(new QuorumUnavailableException("test", 1, 2, "one replica answered"))
            : new TaskCompletionSource<CancelOutcome>().Task;
        using var cancel = new CancellationTokenSource();
        var run = RunAsync(AcquireMode.Wait, Timeout.InfiniteTimeSpan, ParkedThenQueued, cancel.Token);
        await cancel.CancelAsync();
        var cancelled = _client.Time.GetTimestamp();

        await _client.AdvanceUntilAsync(() => run.IsCompleted, "the cancelled acquire to return");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(withdrawals > fastFailures, $"{withdrawals} withdrawals");
        var took = _client.Time.GetElapsedTime(cancelled);
        Assert.True(took <= Options.CallGrace + Options.RetryDelay, $"a cancelled acquire whose withdrawal went unanswered returned {took} after the cancel");
    }

    /// <summary>Through an outage a waiting request asks again with a growing pause (up to a second), and its wait ends at its deadline with the outage's typed error.</summary>
    [Fact]
    public async Task Transient_failures_are_asked_again_with_backoff_and_end_at_the_deadline_in_a_typed_error()
    {
        var sentAt = new List<TimeSpan>();
        var started = _client.Time.GetTimestamp();
        var run = RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(10), _ =>
        {
            sentAt.Add(_client.Time.GetElapsedTime(started));
            return Task.FromException<Reply>(new QuorumUnavailableException("test", 1, 2, "one replica answered"));
        });

        await _client.AdvanceUntilAsync(() => run.IsCompleted, "the acquire to end at its deadline");
        await Assert.ThrowsAsync<QuorumUnavailableException>(() => run);
        var took = _client.Time.GetElapsedTime(started);
        Assert.InRange(took, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10) + Options.RetryDelay);
        var gaps = sentAt.Zip(sentAt.Skip(1), (a, b) => b - a).ToList();
        Assert.True(sentAt.Count <= 16, $"{sentAt.Count} attempts in 10 s of outage: {string.Join(", ", gaps)}");
        Assert.Equal(ParkedCallLoop.MaxRetryDelay, gaps.Max());
    }

    [Fact]
    public async Task A_session_that_does_not_open_by_the_requests_deadline_plus_the_call_grace_is_a_typed_error()
    {
        var opening = new TaskCompletionSource<CoordinationSession>();
        var started = _client.Time.GetTimestamp();
        var wait = ParkedCallLoop.SessionWithinAsync(_ => new ValueTask<CoordinationSession>(opening.Task), "acquire of 'test'", Deadline.FromNow(TimeSpan.FromMilliseconds(200), _client.Time), Options, _client.Time, CancellationToken.None);

        await _client.AdvanceUntilAsync(() => wait.IsCompleted, "the wait for the session to end");
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => wait);
        Assert.InRange(_client.Time.GetElapsedTime(started), TimeSpan.FromMilliseconds(200) + Options.CallGrace, TimeSpan.FromMilliseconds(200) + Options.CallGrace + Options.RetryDelay);
        Assert.Contains("acquire of 'test'", error.Message, StringComparison.Ordinal);

        // Without a deadline the wait is the session's own (its open retries within the cleanup budget).
        var unbounded = ParkedCallLoop.SessionWithinAsync(_ => new ValueTask<CoordinationSession>(opening.Task), "acquire of 'test'", Deadline.Infinite(_client.Time), Options, _client.Time, CancellationToken.None);
        _client.Time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(unbounded.IsCompleted);
        opening.SetResult(_client.Session);
        Assert.Same(_client.Session, await unbounded);
    }

    /// <summary>A call parked on the silo for its whole park time, then answered "queued".</summary>
    private async Task<Reply> ParkedThenQueued(TimeSpan park)
    {
        await Task.Delay(park, _client.Time);
        return new Reply(ParkedReply.Queued);
    }

    /// <summary>A call parked at a silo whose gateway the client loses at once: abandoned without a reply.</summary>
    private Task<Reply> GatewayLost()
    {
        _client.Changes.Signal();
        return new TaskCompletionSource<Reply>().Task;
    }

    private Task<CoordinationLockHandle?> RunAsync(AcquireMode mode, TimeSpan timeout, Func<TimeSpan, Task<Reply>> send, CancellationToken cancellationToken = default) =>
        RunAsync(mode, Deadline.FromNow(timeout, _client.Time), send, cancellationToken);

    private Task<CoordinationLockHandle?> RunAsync(AcquireMode mode, Deadline deadline, Func<TimeSpan, Task<Reply>> send, CancellationToken cancellationToken = default)
    {
        var request = new ParkedRequest<Reply, CoordinationLockHandle>(
            "acquire of 'test'",
            ClientMetrics.Tags.Lock,
            attempt =>
            {
                _parks.Add(attempt.Park);
                _attempts.Add(attempt);
                return send(attempt.Park);
            },
            reply => reply.Status,
            _ => new CoordinationLockHandle(_client.Session.CreateLock("test"), null!, _client.Session, Guid.NewGuid(), 1),
            _ =>
            {
                _withdrawn++;
                _markAtWithdrawal.Add(_client.Session.Requests.SettledThrough);
                return _withdraw();
            });
        return ParkedCallLoop.RunAsync(_client.Session, request, mode, deadline, Options, _client.Time, cancellationToken);
    }

    private sealed record Reply(ParkedReply Status);
}
