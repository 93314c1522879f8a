using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Coordination.Framing;
using Coordination.Lanes;
using Orleans.Serialization;

namespace Coordination.Client.Lanes;

/// <summary>
/// One connection from this client to its gateway silo's client lane: calls are written on the caller's thread, their
/// replies come back in any order and are matched by id. A call not answered within its own limit (its park and the
/// call grace, or the call timeout) fails alone as unanswered; when nothing came in since it was sent, a ping asks
/// whether the silo is alive, and the connection goes when its answer does not come within <see cref="PingTimeout"/>
/// (the silo is paused or gone); a connection that cannot be made or breaks fails every call waiting on it, as unanswered
/// (<see cref="SiloUnavailableException"/>: the call may still run, and its retry sends the same request).
/// </summary>
/// <remarks>
/// As the replica transport's connections: a blocking socket with a thread of its own that connects and reads (a reply
/// wakes it alone); a call that would leave more than a quarter of the send buffer unanswered is declined before it is
/// written and goes through Orleans, so a write never blocks. Unlike them, a reply completes its caller's task
/// asynchronously: what awaits it is the application's code, which must not hold the reading thread.
/// </remarks>
internal sealed partial class LaneConnection : IDisposable
{
    /// <summary>How long the connection, its handshake and hello may take.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a ping may go unanswered before the connection goes (the silo's reading thread answers it at once).</summary>
    public static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Calls waiting at most; more are declined (half of what a silo serves a connection at once, the rest for calls given up here that its grains still run).</summary>
    public const int MaxWaiting = 1024;

    private static readonly TimeSpan SweepPeriod = TimeSpan.FromMilliseconds(250);

    /// <summary>The send buffer asked for; the kernel may give less (Linux: at most twice <c>net.core.wmem_max</c>).</summary>
    private const int SendBuffer = 1 << 20;

    private readonly LaneAddress _address;
    private readonly Socket _socket;
    private readonly Serializer _serializer;
    private readonly TimeProvider _time;
    private readonly ClusterTls? _tls;
    private readonly Action<LaneConnection, Exception> _failed;
    private readonly Action<LaneConnection> _made;
    private readonly Lock _writing = new();

    /// <summary>The reading thread's frame buffer, and the writers' (under <see cref="_writing"/>).</summary>
    private readonly FrameScratch _scratch = new();
    private readonly ConcurrentDictionary<long, Waiter> _waiting = new();
    private readonly long _created;
    private readonly ITimer _sweepTimer;
    private readonly int _bound;
    private Stream? _stream;
    private long _nextId;
    private long _unanswered;

    /// <summary>When the last frame came in (a timestamp of the connection's time provider).</summary>
    private long _lastReceived = long.MinValue;

    /// <summary>When the ping waiting for its answer went; 0 for none.</summary>
    private long _pingSentAt;
    private int _connected;
    private Exception? _broken;

    public LaneConnection(LaneAddress address, Serializer serializer, TimeProvider time, ClusterTls? tls, CancellationToken madeUnder, Action<LaneConnection, Exception> failed, Action<LaneConnection>? made = null)
    {
        _made = made ?? (_ => { });
        _address = address;
        _serializer = serializer;
        _time = time;
        _tls = tls;
        _failed = failed;
        MadeUnder = madeUnder;
        _created = time.GetTimestamp();
        var endpoint = new IPEndPoint(IPAddress.Parse(address.Host), address.Port);
        _socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = SendBuffer };
        FrameSockets.KeepAlive(_socket);
        _bound = Math.Min(FrameScratch.MaxKept, _socket.SendBufferSize / 4);
        _sweepTimer = time.CreateTimer(static state => ((LaneConnection)state!).Sweep(), this, SweepPeriod, SweepPeriod);
        try
        {
            new Thread(() => Run(endpoint), 256 << 10) { IsBackground = true, Name = "Coordination client lane" }.UnsafeStart();
        }
        catch (Exception ex)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ => Break(ex), null);
        }
    }

    /// <summary>The cluster change signal's token when this connection was made: once it fires (the client lost a gateway), the lane makes a new one.</summary>
    public CancellationToken MadeUnder { get; }

    /// <summary>Made, and not broken: calls may go on it.</summary>
    public bool IsConnected => Volatile.Read(ref _connected) == 1 && !IsBroken;

    public bool IsBroken => Volatile.Read(ref _broken) is not null;

    /// <summary>Calls waiting for their replies.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>
    /// Writes <paramref name="call"/> on this thread and returns its reply's task; null (declined before anything was
    /// written: the caller sends the call through Orleans) when the connection is not up, or the call would leave more
    /// than a quarter of the send buffer unanswered. Past the write, every failure is the call's, as unanswered.
    /// </summary>
    public Task<LaneReply>? TrySend(LaneCall call, TimeSpan limit)
    {
        if (!IsConnected)
        {
            return null;
        }

        var id = Interlocked.Increment(ref _nextId);
        Waiter waiter;
        Exception? failed = null;
        lock (_writing)
        {
            var frame = Frames.Write(_scratch, id, (int)LaneFrameKind.Call, call, _serializer);
            if (frame.Length - Frames.HeaderLength > LaneWire.MaxCall || _waiting.Count >= MaxWaiting)
            {
                // Larger than the silo reads (it would close the connection), or as many calls waiting as it serves.
                _scratch.TrimOutput();
                return null;
            }

            if (Interlocked.Add(ref _unanswered, frame.Length) > _bound)
            {
                Interlocked.Add(ref _unanswered, -frame.Length);
                _scratch.TrimOutput();
                return null;
            }

            waiter = new Waiter(new TaskCompletionSource<LaneReply>(TaskCreationOptions.RunContinuationsAsynchronously), frame.Length, _time.GetTimestamp(), limit);
            _waiting[id] = waiter;
            try
            {
                Frames.WriteTo(_stream!, frame);
            }
            catch (Exception ex)
            {
                failed = ex;
            }
        }

        if (failed is not null)
        {
            Break(failed);
        }

        if (Volatile.Read(ref _broken) is { } broken)
        {
            Settle(id)?.Reply.TrySetException(Unanswered(broken));
        }

        return waiter.Reply.Task;
    }

    /// <summary>Ended by <see cref="Dispose"/>, not by a failure.</summary>
    public bool EndedByOwner { get; private set; }

    public void Dispose()
    {
        EndedByOwner = Volatile.Read(ref _broken) is null;
        Break(new ObjectDisposedException(nameof(LaneConnection)));
    }

    /// <summary>The connection's thread: connects (with TLS, shakes hands), greets, then reads replies until the connection ends.</summary>
    private void Run(IPEndPoint endpoint)
    {
        try
        {
            // With TLS the silo must show a silo's certificate of the cluster's authority; a handshake that hangs is
            // ended by the sweep.
            var stream = FrameSockets.Connect(_socket, endpoint, _tls);
            stream.Write(LaneWire.Hello(_address.Silo));
            using var reader = new BufferedStream(stream, 16 << 10);

            // Calls only once the silo answered the hello: one that closes instead (another silo or incarnation at the
            // address, too many connections, stopping, a certificate refused after the handshake) had none to lose.
            if (Frames.Read(reader, _scratch, LaneWire.MaxHello) is not { Kind: (int)LaneFrameKind.Hello })
            {
                Break(new InvalidDataException($"{_address.Silo} did not answer the client lane's hello."));
                return;
            }

            _stream = stream;
            Volatile.Write(ref _connected, 1);
            _made(this);
            while (Frames.Read(reader, _scratch, LaneWire.MaxBody) is { } frame)
            {
                Volatile.Write(ref _lastReceived, _time.GetTimestamp());
                if (frame.Kind == (int)LaneFrameKind.Reply && Settle(frame.Id) is { } waiter)
                {
                    Complete(waiter.Reply, frame);
                }
            }

            Break(new EndOfStreamException($"{_address.Silo} closed the client lane connection."));
        }
        catch (Exception ex)
        {
            Break(ex);
        }
    }

    /// <summary>Takes the call <paramref name="id"/> off the waiting ones, once; its bytes are no longer unanswered.</summary>
    private Waiter? Settle(long id)
    {
        if (!_waiting.TryRemove(id, out var waiter))
        {
            return null;
        }

        Interlocked.Add(ref _unanswered, -waiter.Bytes);
        return waiter;
    }

    private void Complete(TaskCompletionSource<LaneReply> reply, Frame frame)
    {
        try
        {
            reply.TrySetResult(_serializer.Deserialize<LaneReply>(frame.Body.Span) ?? throw new InvalidDataException($"{_address.Silo} answered a lane call with nothing."));
        }
        catch (Exception ex)
        {
            // Answered, but not readable here (a newer silo's reply): as unanswered, so the call's retry decides.
            reply.TrySetException(Unanswered(ex));
        }
    }

    private void Break(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _broken, reason, null) is not null)
        {
            return;
        }

        try
        {
            _failed(this, reason);
        }
        catch (Exception)
        {
            // Its log failed (a logging provider's error): not this thread's to end the process with.
        }

        _sweepTimer.Dispose();
        _socket.Dispose();
        foreach (var id in _waiting.Keys)
        {
            Settle(id)?.Reply.TrySetException(Unanswered(reason));
        }
    }

    private SiloUnavailableException Unanswered(Exception reason) =>
        new($"The client lane connection to {_address.Silo} failed: {reason.GetType().Name}: {reason.Message}");

    private sealed record Waiter(TaskCompletionSource<LaneReply> Reply, int Bytes, long SentAt, TimeSpan Limit);
}
