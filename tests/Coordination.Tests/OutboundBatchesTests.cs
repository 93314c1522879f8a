using System.Threading.Channels;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

public sealed class OutboundBatchesTests
{
    private static readonly TimeSpan SlotTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly ReplicaId A = new("a");
    private static readonly ReplicaId B = new("b");

    private readonly Channel<Call> _calls = Channel.CreateUnbounded<Call>();
    private readonly FakeTimeProvider _time = new();
    private readonly OutboundBatches _batches;

    public OutboundBatchesTests() => _batches = new OutboundBatches(Send, _time, SlotTimeout, Linger);

    [Fact]
    public async Task A_lone_request_leaves_at_once_as_a_batch_of_one()
    {
        var reply = _batches.SendAsync(A, Request("k1"));
        var call = await NextCallAsync();
        Assert.Equal(A, call.Target);
        Assert.Equal(["k1"], call.Keys);
        call.Answer();
        Assert.Equal(ReplicaStatus.Ok, (await reply.WaitAsync(Wait)).Status);
    }

    [Fact]
    public async Task Requests_that_arrive_while_a_batch_is_out_leave_together_and_each_gets_its_own_reply()
    {
        var first = _batches.SendAsync(A, Request("k0"));
        var out1 = await NextCallAsync();
        var later = Enumerable.Range(1, 5).Select(i => _batches.SendAsync(A, Request($"k{i}"))).ToList();
        Assert.False(_calls.Reader.TryRead(out _), "a request went out while the previous batch to the same silo was still on its way");

        out1.Answer();
        var out2 = await NextCallAsync();
        Assert.Equal(["k1", "k2", "k3", "k4", "k5"], out2.Keys);
        out2.Answer();
        await first.WaitAsync(Wait);
        for (var i = 0; i < later.Count; i++)
        {
            // The fake replica answers each request with its key, so a reply handed to the wrong caller shows.
            Assert.Equal($"k{i + 1}", (await later[i].WaitAsync(Wait)).Value);
        }

        Assert.Equal(2, _batches.BatchesSent);
    }

    [Fact]
    public async Task A_background_request_to_a_quiet_silo_leaves_on_its_own_once_it_has_lingered()
    {
        var reply = _batches.SendLaterAsync(A, Request("forget"));
        _time.Advance(Linger - TimeSpan.FromMilliseconds(1));
        Assert.False(_calls.Reader.TryRead(out _), "a background request left before its linger ended, with nothing to ride on");

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var call = await NextCallAsync();
        Assert.Equal(["forget"], call.Keys);
        call.Answer();
        Assert.Equal("forget", (await reply.WaitAsync(Wait)).Value);
        Assert.Equal(1, _batches.BatchesSent);
    }

    [Fact]
    public async Task Background_requests_ride_with_the_next_request_to_the_same_silo()
    {
        var forgets = new[] { _batches.SendLaterAsync(A, Request("f1")), _batches.SendLaterAsync(A, Request("f2")) };
        var toB = _batches.SendLaterAsync(B, Request("fb"));
        var round = _batches.SendAsync(A, Request("k1"));

        // No time passes: the round's request takes the lingering ones along, behind it, and leaves at once.
        var call = await NextCallAsync();
        Assert.Equal(A, call.Target);
        Assert.Equal(["k1", "f1", "f2"], call.Keys);
        call.Answer();
        Assert.Equal("k1", (await round.WaitAsync(Wait)).Value);
        Assert.Equal("f1", (await forgets[0].WaitAsync(Wait)).Value);
        Assert.Equal("f2", (await forgets[1].WaitAsync(Wait)).Value);

        // The one to another silo still lingers, and its linger ending does not send A's again.
        Assert.False(toB.IsCompleted);
        _time.Advance(Linger);
        var alone = await NextCallAsync();
        Assert.Equal(B, alone.Target);
        Assert.Equal(["fb"], alone.Keys);
        alone.Answer();
        await toB.WaitAsync(Wait);
        Assert.False(_calls.Reader.TryRead(out _), "a background request was sent twice");
        Assert.Equal(2, _batches.BatchesSent);
    }

    [Fact]
    public async Task A_background_request_while_a_batch_is_out_leaves_with_the_next_batch()
    {
        var first = _batches.SendAsync(A, Request("k0"));
        var out1 = await NextCallAsync();
        var forget = _batches.SendLaterAsync(A, Request("f1"));
        var next = _batches.SendAsync(A, Request("k1"));

        out1.Answer();
        var out2 = await NextCallAsync();
        Assert.Equal(["f1", "k1"], out2.Keys);
        out2.Answer();
        await Task.WhenAll(first, forget, next).WaitAsync(Wait);
        Assert.Equal(2, _batches.BatchesSent);
    }

    [Fact]
    public async Task Silos_do_not_wait_for_each_other()
    {
        _ = _batches.SendAsync(A, Request("ka"));
        var toA = await NextCallAsync();
        var toB = _batches.SendAsync(B, Request("kb"));
        var callB = await NextCallAsync();
        Assert.Equal(B, callB.Target);
        callB.Answer();
        await toB.WaitAsync(Wait);
        toA.Answer();
    }

    [Fact]
    public async Task A_failed_batch_fails_each_of_its_requests_and_the_next_batch_still_goes()
    {
        var first = _batches.SendAsync(A, Request("k0"));
        var out1 = await NextCallAsync();
        var second = _batches.SendAsync(A, Request("k1"));
        out1.Fail(new InvalidOperationException("connection lost"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => first.WaitAsync(Wait));

        var out2 = await NextCallAsync();
        Assert.Equal(["k1"], out2.Keys);
        out2.Answer();
        await second.WaitAsync(Wait);
    }

    [Fact]
    public async Task A_batch_that_does_not_come_back_frees_the_way_after_the_slot_timeout_and_still_answers_late()
    {
        var stuck = _batches.SendAsync(A, Request("k0"));
        var out1 = await NextCallAsync();
        var next = _batches.SendAsync(A, Request("k1"));

        // The pump starts its wait for the stuck batch on its own thread: advance until it has seen the time pass.
        var read = _calls.Reader.ReadAsync().AsTask();
        var deadline = DateTime.UtcNow + Wait;
        while (!read.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "the next batch did not leave after the stuck one's slot timeout");
            _time.Advance(SlotTimeout);
            await Task.WhenAny(read, Task.Delay(10)); // allowed: one step of a poll with a deadline and a message (the pump's timer starts on another thread).
        }

        var out2 = await read;
        Assert.Equal(["k1"], out2.Keys);
        out2.Answer();
        await next.WaitAsync(Wait);
        Assert.False(stuck.IsCompleted);

        out1.Answer();
        Assert.Equal("k0", (await stuck.WaitAsync(Wait)).Value);
    }

    [Fact]
    public async Task Past_the_waiting_bound_a_request_fails_at_once_instead_of_piling_up()
    {
        _ = _batches.SendAsync(A, Request("k0"));
        var out1 = await NextCallAsync();
        var waiting = Enumerable.Range(1, OutboundBatches.MaxWaiting).Select(i => _batches.SendAsync(A, Request($"k{i}"))).ToList();
        var refused = _batches.SendAsync(A, Request("one too many"));
        Assert.True(refused.IsFaulted);
        await Assert.ThrowsAsync<TimeoutException>(() => refused);

        out1.Answer();
        var sizes = new List<int>();
        while (sizes.Sum() < OutboundBatches.MaxWaiting)
        {
            var call = await NextCallAsync();
            sizes.Add(call.Keys.Length);
            call.Answer();
        }

        Assert.All(sizes, s => Assert.True(s <= OutboundBatches.MaxBatch, $"a batch of {s} requests exceeds {OutboundBatches.MaxBatch}"));
        await Task.WhenAll(waiting).WaitAsync(Wait);
    }

    [Fact]
    public async Task A_full_list_of_background_requests_still_leaves_with_the_next_request_and_does_not_block_it()
    {
        var lingering = Enumerable.Range(1, OutboundBatches.MaxWaiting).Select(i => _batches.SendLaterAsync(A, Request($"f{i}"))).ToList();
        var refused = _batches.SendLaterAsync(A, Request("one too many"));
        await Assert.ThrowsAsync<TimeoutException>(() => refused);

        var round = _batches.SendAsync(A, Request("k1"));
        var sent = new List<string>();
        while (sent.Count < OutboundBatches.MaxWaiting + 1)
        {
            var call = await NextCallAsync();
            sent.AddRange(call.Keys);
            call.Answer();
        }

        Assert.Equal("k1", sent[0]);
        Assert.Equal("k1", (await round.WaitAsync(Wait)).Value);
        await Task.WhenAll(lingering).WaitAsync(Wait);

        // The way to that silo is open afterwards.
        var next = _batches.SendAsync(A, Request("k2"));
        var last = await NextCallAsync();
        last.Answer();
        Assert.Equal("k2", (await next.WaitAsync(Wait)).Value);
    }

    [Fact]
    public async Task A_silo_nothing_is_bound_for_any_more_leaves_no_destination_behind()
    {
        var toA = _batches.SendAsync(A, Request("ka"));
        var toB = _batches.SendAsync(B, Request("kb"));
        for (var i = 0; i < 2; i++)
        {
            var call = await NextCallAsync();
            if (call.Target == A)
            {
                call.Answer();
            }
            else
            {
                call.Fail(new InvalidOperationException("the silo is dead"));
            }
        }

        await toA.WaitAsync(Wait);
        await Assert.ThrowsAsync<InvalidOperationException>(() => toB.WaitAsync(Wait));
        await Eventually.Async(() => _batches.DestinationCount == 0, Wait, "both destinations to go once nothing waits for them");

        var again = _batches.SendAsync(A, Request("k2"));
        (await NextCallAsync()).Answer();
        Assert.Equal("k2", (await again.WaitAsync(Wait)).Value);
    }

    [Fact]
    public async Task A_pump_does_not_carry_the_request_context_of_the_caller_that_started_it()
    {
        RequestContext.Set("caller", "first");
        try
        {
            var reply = _batches.SendAsync(A, Request("k1"));
            var call = await NextCallAsync();
            Assert.Null(call.Context);
            call.Answer();
            await reply.WaitAsync(Wait);
        }
        finally
        {
            RequestContext.Clear();
        }
    }

    private static ReplicaRequest Request(string key) => new(0, 1, key, ReplicaOperation.Accept, Ballot.Zero, null, Ballot.Zero);

    private async Task<Call> NextCallAsync() => await _calls.Reader.ReadAsync().AsTask().WaitAsync(Wait);

    private Task<ReplicaReply[]> Send(ReplicaId target, ReplicaRequest[] requests)
    {
        var call = new Call(target, requests);
        _calls.Writer.TryWrite(call);
        return call.Replies.Task;
    }

    private sealed class Call(ReplicaId target, ReplicaRequest[] requests)
    {
        public ReplicaId Target { get; } = target;

        public string[] Keys { get; } = [.. requests.Select(r => r.Key)];

        /// <summary>The caller entry of the Orleans request context the batch was sent under.</summary>
        public object? Context { get; } = RequestContext.Get("caller");

        public TaskCompletionSource<ReplicaReply[]> Replies { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Answer() => Replies.SetResult([.. Keys.Select(k => new ReplicaReply(ReplicaStatus.Ok, 1, Ballot.Zero, Ballot.Zero, k))]);

        public void Fail(Exception ex) => Replies.SetException(ex);
    }
}
