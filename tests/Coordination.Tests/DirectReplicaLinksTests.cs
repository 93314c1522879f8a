using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Coordination.Grains.Sessions;
using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orleans.Serialization;

namespace Coordination.Tests;

/// <summary>
/// The sending end of the direct replica transport against a listener played by the test: it asks a silo's port
/// and declines (Orleans carries the batch) until it is connected, matches replies to batches, fails a batch whose
/// connection breaks or that goes unanswered, backs off before asking again, and forgets links nobody uses.
/// </summary>
public sealed class DirectReplicaLinksTests : IAsyncDisposable
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly ReplicaId Self = Silo(1);
    private static readonly ReplicaId Target = Silo(2);
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(SessionShard).Assembly).AddAssembly(typeof(ReplicaRequest).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private readonly FakeTimeProvider _time = new();
    private readonly DirectReplicaLinks _links;
    private readonly FakeListener _listener = new();
    private readonly Channel<TaskCompletionSource<int>> _asked = Channel.CreateUnbounded<TaskCompletionSource<int>>();

    public DirectReplicaLinksTests() => _links = new DirectReplicaLinks(Self, Serializer, _time, ReplyTimeout, tls: null, NullLogger.Instance);

    [Fact]
    public async Task A_silo_is_sent_to_through_Orleans_until_it_says_where_it_listens_and_then_directly()
    {
        Assert.Null(_links.TrySend(Target, Batch("a"), AskPort));
        var question = await NextQuestionAsync();
        Assert.Null(_links.TrySend(Target, Batch("b"), AskPort));
        await AnswerAsync(question, _listener.Port);
        Assert.Null(_links.TrySend(Target, Batch("c"), AskPort));
        await Eventually.Async(() => _links.Connected(Target), Wait, "a connection made once the port is known");
        var sent = _links.TrySend(Target, Batch("c", "d"), AskPort);
        Assert.NotNull(sent);

        var (hello, frame) = await _listener.NextBatchAsync();
        Assert.Equal((Self, Target), hello);
        Assert.Equal(["c", "d"], frame.Select(r => r.Key));
        _listener.Answer(frame);
        Assert.Equal([0L, 1L], (await sent.WaitAsync(Wait)).Select(r => r.Epoch));
        Assert.False(_asked.Reader.TryRead(out _), "the port was asked for once");
    }

    [Fact]
    public async Task A_silo_that_takes_no_direct_batches_is_not_asked_again_until_its_link_is_forgotten()
    {
        Assert.Null(_links.TrySend(Target, Batch("a"), AskPort));
        await AnswerAsync(await NextQuestionAsync(), 0);

        _time.Advance(DirectReplicaLinks.IdleLifetime / 2);
        Assert.Null(_links.TrySend(Target, Batch("b"), AskPort));
        Assert.False(_links.Asking(Target), "asked again within a while, though it said it takes none");

        _time.Advance(DirectReplicaLinks.IdleLifetime);
        Assert.Null(_links.TrySend(Target, Batch("c"), AskPort));
        (await NextQuestionAsync()).SetResult(0);
    }

    [Fact]
    public async Task A_broken_connection_fails_its_batch_and_the_port_is_asked_again()
    {
        var sent = await ConnectedSendAsync("a");
        await _listener.NextBatchAsync();
        _listener.Drop();

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => sent.WaitAsync(Wait));
        Assert.IsType<SiloUnavailableException>(failure);
        Assert.Null(_links.TrySend(Target, Batch("b"), AskPort));
        Assert.False(_links.Asking(Target), "asked again at once: a port that fails must not cost every other batch");

        _time.Advance(DirectReplicaLinks.FirstRetry);
        Assert.Null(_links.TrySend(Target, Batch("c"), AskPort));
        (await NextQuestionAsync()).SetResult(_listener.Port);
    }

    [Fact]
    public async Task A_batch_nobody_answers_fails_after_the_reply_timeout()
    {
        var sent = await ConnectedSendAsync("a");
        await _listener.NextBatchAsync();
        Assert.False(sent.IsCompleted);

        // The reply timer starts once the batch is written, a moment after the listener read it.
        await Eventually.Async(
            () =>
            {
                _time.Advance(ReplyTimeout);
                return sent.IsCompleted;
            },
            Wait,
            "the unanswered batch to fail");
        await Assert.ThrowsAsync<TimeoutException>(() => sent);
        Assert.False(_links.Connected(Target), "the connection that left a batch unanswered is still used");
    }

    [Fact]
    public async Task Links_nobody_used_for_a_while_are_closed_and_forgotten()
    {
        var sent = await ConnectedSendAsync("a");
        var (_, frame) = await _listener.NextBatchAsync();
        _listener.Answer(frame);
        await sent.WaitAsync(Wait);
        Assert.Equal(1, _links.Count);

        _time.Advance(DirectReplicaLinks.IdleLifetime + TimeSpan.FromSeconds(1));
        Assert.Null(_links.TrySend(Silo(3), Batch("b"), AskPort));
        Assert.Equal(1, _links.Count);
        await _listener.ClosedAsync().WaitAsync(Wait);
    }

    [Fact]
    public async Task Batches_past_the_unanswered_bound_go_through_Orleans_until_the_ones_out_are_answered()
    {
        var first = await ConnectedSendAsync("a");
        var (_, firstBatch) = await _listener.NextBatchAsync();
        var bound = _links.Bound(Target) ?? throw new InvalidOperationException("no connection");
        Assert.InRange(bound, 16 << 10, DirectConnection.MaxUnanswered);
        var eighth = new string('k', bound / 8);
        var written = new List<Task<ReplicaReply[]>>();

        // Writes happen on the caller's thread: to a silo that answers nothing they must be declined, never wait.
        var declined = await Task.Factory.StartNew(WriteUntilDeclined, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(Wait);
        bool WriteUntilDeclined()
        {
            for (var i = 0; i < 64; i++)
            {
                if (_links.TrySend(Target, Batch(eighth + i), AskPort) is not { } sent)
                {
                    return true;
                }

                written.Add(sent);
            }

            return false;
        }

        Assert.True(declined, "batches were written past the bound");
        Assert.Equal(7, written.Count);
        Assert.All(written, sent => Assert.False(sent.IsCompleted));
        Assert.True(_links.Connected(Target), "a declined batch took the connection with it");

        // Answered batches no longer count: the next one is written.
        _listener.Answer(firstBatch);
        foreach (var _ in written)
        {
            var (_, batch) = await _listener.NextBatchAsync();
            _listener.Answer(batch);
        }

        await Task.WhenAll(written.Append(first)).WaitAsync(Wait);
        var again = _links.TrySend(Target, Batch(eighth), AskPort);
        Assert.NotNull(again);
        var (_, last) = await _listener.NextBatchAsync();
        _listener.Answer(last);
        Assert.Single(await again.WaitAsync(Wait));
    }

    [Fact]
    public async Task A_batch_larger_than_half_the_bound_goes_through_Orleans_even_with_nothing_out()
    {
        var first = await ConnectedSendAsync("a");
        var (_, firstBatch) = await _listener.NextBatchAsync();
        _listener.Answer(firstBatch);
        await first.WaitAsync(Wait);
        var bound = _links.Bound(Target) ?? throw new InvalidOperationException("no connection");

        Assert.Null(_links.TrySend(Target, Batch(new string('k', bound / 2)), AskPort));
        Assert.True(_links.Connected(Target), "a declined batch took the connection with it");
        var small = _links.TrySend(Target, Batch("b"), AskPort);
        Assert.NotNull(small);
        var (_, batch) = await _listener.NextBatchAsync();
        Assert.Equal(["b"], batch.Select(r => r.Key));
        _listener.Answer(batch);
        await small.WaitAsync(Wait);
    }

    public async ValueTask DisposeAsync()
    {
        _links.Dispose();
        await _listener.DisposeAsync();
    }

    private async Task<Task<ReplicaReply[]>> ConnectedSendAsync(string key)
    {
        Assert.Null(_links.TrySend(Target, Batch(key), AskPort));
        await AnswerAsync(await NextQuestionAsync(), _listener.Port);
        Assert.Null(_links.TrySend(Target, Batch(key), AskPort));
        await Eventually.Async(() => _links.Connected(Target), Wait, "a connection made once the port is known");
        return _links.TrySend(Target, Batch(key), AskPort) ?? throw new InvalidOperationException("no direct send once connected");
    }

    private Task<int> AskPort(ReplicaId target)
    {
        Assert.NotEqual(Self, target);
        var answer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        _asked.Writer.TryWrite(answer);
        return answer.Task;
    }

    /// <summary>Answers a question about the port and waits until the link has taken the answer.</summary>
    private async Task AnswerAsync(TaskCompletionSource<int> question, int port)
    {
        question.SetResult(port);
        await Eventually.Async(() => !_links.Asking(Target), Wait, "the link to take the port it was told");
    }

    private async Task<TaskCompletionSource<int>> NextQuestionAsync() => await _asked.Reader.ReadAsync().AsTask().WaitAsync(Wait);

    private static ReplicaRequest[] Batch(params string[] keys) => [.. keys.Select(k => new ReplicaRequest(0, 1, k, ReplicaOperation.Accept, Ballot.Zero, null, Ballot.Zero))];

    private static ReplicaId Silo(int generation) => new(SiloAddress.New(IPAddress.Loopback, 11110 + generation, generation).ToParsableString());

    /// <summary>Plays a silo's listener: takes one connection at a time, hands each batch to the test, answers when told.</summary>
    private sealed class FakeListener : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Channel<((ReplicaId, ReplicaId) Hello, long Id, ReplicaRequest[] Batch)> _batches = Channel.CreateUnbounded<((ReplicaId, ReplicaId), long, ReplicaRequest[])>();
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Dictionary<ReplicaRequest[], long> _ids = new(ReferenceEqualityComparer.Instance);
        private Socket? _connection;

        public FakeListener()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public async Task<((ReplicaId From, ReplicaId To) Hello, ReplicaRequest[] Batch)> NextBatchAsync()
        {
            var (hello, id, batch) = await _batches.Reader.ReadAsync().AsTask().WaitAsync(Wait);
            lock (_ids)
            {
                _ids[batch] = id;
            }

            return (hello, batch);
        }

        /// <summary>Answers a batch: reply i carries epoch i, so the test sees the order kept.</summary>
        public void Answer(ReplicaRequest[] batch)
        {
            long id;
            lock (_ids)
            {
                id = _ids[batch];
            }

            var replies = batch.Select((_, i) => ReplicaReply.Refuse(ReplicaStatus.Ok, i)).ToArray();
            _connection!.Send(DirectFrames.Frame(id, FrameKind.Batch, Serializer.SerializeToArray(replies)));
        }

        public void Drop() => _connection!.Close(0);

        /// <summary>Completes when the sender closed its connection.</summary>
        public Task ClosedAsync() => _closed.Task;

        public ValueTask DisposeAsync()
        {
            _listener.Stop();
            _connection?.Dispose();
            return ValueTask.CompletedTask;
        }

        private async Task AcceptAsync()
        {
            try
            {
                _connection = await _listener.AcceptSocketAsync();
                // Read as the transport does, blocking, on a thread of its own.
                await Task.Factory.StartNew(ReadAll, TaskCreationOptions.LongRunning);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
            }

            _closed.TrySetResult();
        }

        private void ReadAll()
        {
            using var stream = new NetworkStream(_connection!);
            var hello = DirectFrames.ReadHello(stream) ?? throw new InvalidDataException("no hello");
            var header = new byte[DirectFrames.HeaderLength];
            while (DirectFrames.Read(stream, header) is { } frame)
            {
                _batches.Writer.TryWrite((hello, frame.Id, Serializer.Deserialize<ReplicaRequest[]>(frame.Body)!));
            }
        }
    }
}
