using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Coordination.Client.Lanes;
using Coordination.Framing;
using Coordination.Lanes;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Serialization;

namespace Coordination.Tests;

/// <summary>
/// The client end of the client lane against a silo played by the test: it greets the silo it was told of and writes
/// calls only once answered, matches replies to calls in any order, and fails a call as unanswered (never as an answer)
/// when its connection breaks or when the silo leaves it past its own limit; a ping left unanswered then takes the
/// connection (the silo is paused or gone), an answered one leaves it.
/// </summary>
public sealed class LaneConnectionTests : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(LaneCall).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private readonly FakeTimeProvider _time = new();
    private readonly FakeSilo _silo = new();
    private readonly List<Exception> _failures = [];
    private readonly LaneConnection _connection;

    public LaneConnectionTests() =>
        _connection = new LaneConnection(new LaneAddress("127.0.0.1", _silo.Port, "silo-1", Tls: false), Serializer, _time, null, CancellationToken.None, (_, ex) =>
        {
            lock (_failures)
            {
                _failures.Add(ex);
            }
        });

    [Fact]
    public async Task Calls_follow_the_hello_and_each_reply_completes_its_own_call_in_any_order()
    {
        await Eventually.Async(() => _connection.IsConnected, Wait, "the connection made");
        var first = _connection.TrySend(Call("a"), TimeSpan.FromSeconds(5));
        var second = _connection.TrySend(Call("b"), TimeSpan.FromSeconds(5));
        Assert.NotNull(first);
        Assert.NotNull(second);

        var (hello, a) = await _silo.NextCallAsync();
        var (_, b) = await _silo.NextCallAsync();
        Assert.Equal("silo-1", hello);
        Assert.Equal(("a", "b"), (a.Call.Name, b.Call.Name));

        _silo.Answer(b.Id, new LaneReply(new AcquireResult(AcquireStatus.Granted, 2, 0), default, null));
        _silo.Answer(a.Id, new LaneReply(null, default, new LockNotHeldException("a", "gone")));
        Assert.Equal(2, (await second.WaitAsync(Wait)).Acquired?.FencingToken);
        Assert.IsType<LockNotHeldException>((await first.WaitAsync(Wait)).Error);
        Assert.Equal(0, _connection.Waiting);
        Assert.Empty(_failures);
    }

    [Fact]
    public async Task A_call_past_its_limit_on_a_silent_connection_fails_alone_and_a_ping_left_unanswered_takes_the_connection()
    {
        await Eventually.Async(() => _connection.IsConnected, Wait, "the connection made");
        var patient = _connection.TrySend(Call("patient"), TimeSpan.FromSeconds(9));
        var hurried = _connection.TrySend(Call("hurried"), TimeSpan.FromSeconds(2));
        await _silo.NextCallAsync();
        await _silo.NextCallAsync();

        _time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(hurried!.IsCompleted, "not before its limit");
        _time.Advance(TimeSpan.FromSeconds(0.35));

        // Unanswered, not refused: the caller's retry treats it as possibly applied. The silo, silent since, is pinged.
        await Assert.ThrowsAsync<SiloUnavailableException>(() => hurried.WaitAsync(Wait));
        await Eventually.Async(() => _silo.Pings == 1, Wait, "a ping sent when the late call heard nothing");
        Assert.True(_connection.IsConnected, "the connection waits for the ping's answer");
        Assert.False(patient!.IsCompleted, "the other call waits on");

        _time.Advance(LaneConnection.PingTimeout);
        await Assert.ThrowsAsync<SiloUnavailableException>(() => patient.WaitAsync(Wait));
        Assert.True(_connection.IsBroken);
        Assert.Null(_connection.TrySend(Call("after"), TimeSpan.FromSeconds(5)));
        Assert.IsType<TimeoutException>(Assert.Single(_failures));
        await _silo.ClosedAsync().WaitAsync(Wait);
    }

    [Fact]
    public async Task A_call_past_its_limit_on_a_silo_that_answers_the_ping_fails_alone_and_the_connection_stays()
    {
        _silo.AnswerPings = true;
        await Eventually.Async(() => _connection.IsConnected, Wait, "the connection made");
        var late = _connection.TrySend(Call("late"), TimeSpan.FromSeconds(2));
        await _silo.NextCallAsync();
        _time.Advance(TimeSpan.FromSeconds(2.25));
        await Assert.ThrowsAsync<SiloUnavailableException>(() => late!.WaitAsync(Wait));
        await Eventually.Async(() => _silo.Pings == 1, Wait, "a ping sent when the late call heard nothing");

        // The pong went before the next call's reply, so once that reply is here the pong was read.
        var next = _connection.TrySend(Call("next"), TimeSpan.FromSeconds(30));
        var (_, call) = await _silo.NextCallAsync();
        _silo.Answer(call.Id, new LaneReply(new AcquireResult(AcquireStatus.Granted, 3, 0), default, null));
        await next!.WaitAsync(Wait);
        _time.Advance(LaneConnection.PingTimeout * 3);
        Assert.True(_connection.IsConnected, "the silo answered the ping: the connection stays");
        Assert.Empty(_failures);
    }

    [Fact]
    public async Task A_silo_that_closes_instead_of_answering_the_hello_never_gets_a_call()
    {
        await using var other = new FakeSilo { AnswerHello = false };
        using var connection = new LaneConnection(new LaneAddress("127.0.0.1", other.Port, "silo-2", Tls: false), Serializer, _time, null, CancellationToken.None, (_, _) => { });
        await Eventually.Async(() => connection.IsBroken, Wait, "the connection given up");
        Assert.False(connection.IsConnected);
        Assert.Null(connection.TrySend(Call("a"), TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_late_call_on_a_silo_that_answers_others_fails_alone_and_the_connection_stays()
    {
        await Eventually.Async(() => _connection.IsConnected, Wait, "the connection made");
        var late = _connection.TrySend(Call("late"), TimeSpan.FromSeconds(2));
        var (_, first) = await _silo.NextCallAsync();
        _time.Advance(TimeSpan.FromSeconds(1));
        var answered = _connection.TrySend(Call("answered"), TimeSpan.FromSeconds(2));
        var (_, second) = await _silo.NextCallAsync();
        _silo.Answer(second.Id, new LaneReply(new AcquireResult(AcquireStatus.NotAvailable, 0, 0), default, null));
        await answered!.WaitAsync(Wait);

        // Its grain waits on something else (a silo that went): the call is unanswered, the silo is not.
        _time.Advance(TimeSpan.FromSeconds(1.25));
        await Assert.ThrowsAsync<SiloUnavailableException>(() => late!.WaitAsync(Wait));
        Assert.True(_connection.IsConnected, "the connection stays: the silo answered after the late call went");
        Assert.Empty(_failures);
        _silo.Answer(first.Id, new LaneReply(new AcquireResult(AcquireStatus.Granted, 1, 0), default, null));
        Assert.NotNull(_connection.TrySend(Call("after"), TimeSpan.FromSeconds(2)));
        Assert.Equal("after", (await _silo.NextCallAsync()).Call.Call.Name);
    }

    [Fact]
    public async Task A_connection_the_silo_closes_fails_its_calls_as_unanswered_and_sends_no_more()
    {
        await Eventually.Async(() => _connection.IsConnected, Wait, "the connection made");
        var call = _connection.TrySend(Call("a"), TimeSpan.FromSeconds(5));
        await _silo.NextCallAsync();
        _silo.Drop();

        await Assert.ThrowsAsync<SiloUnavailableException>(() => call!.WaitAsync(Wait));
        Assert.Null(_connection.TrySend(Call("b"), TimeSpan.FromSeconds(5)));
        Assert.Single(_failures);
    }

    public async ValueTask DisposeAsync()
    {
        _connection.Dispose();
        await _silo.DisposeAsync();
    }

    private static LaneCall Call(string name) => new(name, new AcquireRequest("s", Guid.NewGuid(), AcquireMode.IfAvailable, TimeSpan.Zero, null, TimeSpan.Zero, 1, 0), null);

    /// <summary>Plays a silo's lane listener: takes one connection, hands each call to the test, answers when told.</summary>
    private sealed class FakeSilo : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Channel<(string Hello, (long Id, LaneCall Call) Call)> _calls = Channel.CreateUnbounded<(string, (long, LaneCall))>();
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Socket? _connection;
        private int _pings;

        public FakeSilo()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        /// <summary>Whether it answers the hello (a silo of another incarnation closes the connection instead).</summary>
        public bool AnswerHello { get; init; } = true;

        /// <summary>Whether it answers pings (a paused silo does not).</summary>
        public bool AnswerPings { get; set; }

        public int Pings => Volatile.Read(ref _pings);

        public async Task<(string Hello, (long Id, LaneCall Call) Call)> NextCallAsync() => await _calls.Reader.ReadAsync().AsTask().WaitAsync(Wait);

        public void Answer(long id, LaneReply reply) => _connection!.Send(Frames.Frame(id, (int)LaneFrameKind.Reply, Serializer.SerializeToArray(reply)));

        public void Drop() => _connection!.Close(0);

        /// <summary>Completes when the client closed its connection.</summary>
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
            var hello = LaneWire.ReadHello(stream) ?? throw new InvalidDataException("no hello");
            if (!AnswerHello)
            {
                _connection!.Close(0);
                return;
            }

            _connection!.Send(Frames.Frame(0, (int)LaneFrameKind.Hello, []));
            while (Frames.Read(stream, new byte[Frames.HeaderLength], LaneWire.MaxCall) is { } frame)
            {
                if (frame.Kind == (int)LaneFrameKind.Ping)
                {
                    Interlocked.Increment(ref _pings);
                    if (AnswerPings)
                    {
                        Answer(frame.Id, LaneReply.Pong);
                    }

                    continue;
                }

                _calls.Writer.TryWrite((hello, (frame.Id, Serializer.Deserialize<LaneCall>(frame.Body.Span)!)));
            }
        }
    }
}
