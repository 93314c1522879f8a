using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Coordination.Framing;
using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Orleans.Serialization;

namespace Coordination.Replication.Direct;

/// <summary>
/// One connection from this silo to another silo's <see cref="DirectReplicaListener"/>: batches are written one
/// at a time, replies come back in any order and are matched by id. A batch not answered within the reply
/// timeout (Orleans' response timeout, as a grain-service call has) fails with <see cref="TimeoutException"/> and
/// takes the connection with it; a connection that cannot be made or breaks fails every batch waiting on it and
/// tells its link, once.
/// </summary>
/// <remarks>
/// The socket stays in blocking mode and has a thread of its own that connects and then reads replies: a reply
/// wakes that thread alone, where an asynchronous read wakes the runtime's socket-engine thread, which queues the
/// rest to the thread pool and wakes a worker (two wake-ups and a hand-off per reply; on a box of two cores with
/// three silos, a tenth or more of a lock's CPU went to these). Writes happen on the caller's thread, and cannot
/// block it: a batch that would leave more unanswered than a quarter of the socket's send buffer (at most
/// <see cref="MaxUnanswered"/> bytes) is declined and goes through Orleans, so a silo that stops reading fills no
/// buffer before its reply timeout takes the connection.
/// </remarks>
internal sealed class DirectConnection : IDisposable
{
    /// <summary>Bytes written and not yet answered at most; a batch beyond is declined, not queued.</summary>
    public const int MaxUnanswered = FrameScratch.MaxKept;

    /// <summary>The send buffer asked for; the kernel may give less (Linux: at most twice <c>net.core.wmem_max</c>).</summary>
    private const int SendBuffer = 1 << 20;

    private readonly ReplicaId _target;
    private readonly Socket _socket;
    private readonly Serializer _serializer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _replyTimeout;
    private readonly ClusterTls? _tls;
    private readonly Action<DirectConnection, Exception> _failed;
    private readonly Lock _writing = new();

    /// <summary>The reading thread's frame buffer, and the writers' (under <see cref="_writing"/>).</summary>
    private readonly FrameScratch _scratch = new();
    private readonly ConcurrentDictionary<long, Waiter> _waiting = new();
    private readonly long _created;
    private readonly ITimer? _sweepTimer;
    private Stream? _stream;
    private long _nextId;
    private long _unanswered;
    private int _connected;
    private Exception? _broken;

    public DirectConnection(ReplicaId target, IPEndPoint endpoint, byte[] hello, Serializer serializer, TimeProvider time, TimeSpan replyTimeout, ClusterTls? tls, Action<DirectConnection, Exception> failed)
    {
        _target = target;
        _serializer = serializer;
        _time = time;
        _replyTimeout = replyTimeout;
        _tls = tls;
        _failed = failed;
        _created = time.GetTimestamp();
        _socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = SendBuffer };
        FrameSockets.KeepAlive(_socket);
        Bound = Math.Min(MaxUnanswered, _socket.SendBufferSize / 4);
        if (replyTimeout > TimeSpan.Zero)
        {
            // One timer per connection, not one per batch: it fails what waited too long (and a connect that hangs).
            var period = TimeSpan.FromTicks(Math.Max(replyTimeout.Ticks / 8, TimeSpan.TicksPerMillisecond));
            _sweepTimer = time.CreateTimer(static state => ((DirectConnection)state!).Sweep(), this, period, period);
        }

        try
        {
            // Started here but never inline: a failure reaches the link once it holds this connection (its lock).
            new Thread(() => Run(endpoint, hello), 256 << 10) { IsBackground = true, Name = "Coordination replica connection" }.UnsafeStart();
        }
        catch (Exception ex)
        {
            // Out of threads: the link hears it off its lock, and backs off.
            ThreadPool.UnsafeQueueUserWorkItem(_ => Break(ex), null);
        }
    }

    /// <summary>Bytes this connection leaves unanswered at most: a quarter of the send buffer the kernel gave, at most <see cref="MaxUnanswered"/>.</summary>
    public int Bound { get; }

    /// <summary>Batches waiting for their replies.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>Made, and not broken: batches may go on it.</summary>
    public bool IsConnected => Volatile.Read(ref _connected) == 1 && Volatile.Read(ref _broken) is null;

    /// <summary>
    /// Writes <paramref name="batch"/> on this thread and returns its replies' task, completed on the connection's own
    /// thread; or null (declined: the caller sends it through Orleans) when it would leave more than <see cref="Bound"/>
    /// bytes unanswered, as a batch larger than half of that always would.
    /// </summary>
    public Task<ReplicaReply[]>? TrySend(ReplicaRequest[] batch)
    {
        if (!IsConnected)
        {
            return Task.FromException<ReplicaReply[]>(Unavailable(Volatile.Read(ref _broken) ?? new InvalidOperationException("not connected yet")));
        }

        var id = Interlocked.Increment(ref _nextId);
        Waiter waiter;
        Exception? failed = null;
        lock (_writing)
        {
            // Serialized under the write lock, into the connection's own buffer (a destination has one batch on its
            // way at a time, so the lock is rarely contended).
            var frame = DirectFrames.Write(_scratch, id, FrameKind.Batch, batch, _serializer);
            if (frame.Length > Bound / 2)
            {
                // The only frame that grows the buffer past what it keeps: it goes now, not at the next write.
                _scratch.TrimOutput();
                ReplicationMetrics.DirectBatchesDeclined.Add(1);
                return null;
            }

            if (Interlocked.Add(ref _unanswered, frame.Length) > Bound)
            {
                Interlocked.Add(ref _unanswered, -frame.Length);
                ReplicationMetrics.DirectBatchesDeclined.Add(1);
                return null;
            }

            // Completed by the reading thread, which runs what follows inline (it only hands replies on and sends the
            // next batch, never waiting on this connection's reads).
            waiter = new Waiter(new TaskCompletionSource<ReplicaReply[]>(), frame.Length, _time.GetTimestamp());
            _waiting[id] = waiter;
            try
            {
                // Set before the connection counts as made.
                Frames.WriteTo(_stream!, frame);
            }
            catch (Exception ex)
            {
                failed = ex;
            }
        }

        if (failed is not null)
        {
            // A write cut off halfway leaves the stream unusable: the connection goes, and the batch with it (off the
            // write lock: what the batch's failure runs inline may send again).
            Break(failed);
        }

        if (Volatile.Read(ref _broken) is { } broken)
        {
            // Broken before, during or just after the write: whoever took the waiter failed it; if nobody did, this does.
            Settle(id)?.Reply.TrySetException(Unavailable(broken));
        }
        else
        {
            ReplicationMetrics.DirectFramesSent.Add(1);
        }

        return waiter.Reply.Task;
    }

    public void Dispose() => Break(new ObjectDisposedException(nameof(DirectConnection)));

    /// <summary>The connection's thread: connects (with TLS, shakes hands), greets, then reads replies until the connection ends.</summary>
    private void Run(IPEndPoint endpoint, byte[] hello)
    {
        try
        {
            // With TLS the other end must show a silo's certificate of the cluster's authority; a handshake that hangs
            // is ended by the sweep (a connection not made within the reply timeout).
            var stream = FrameSockets.Connect(_socket, endpoint, _tls);
            stream.Write(hello);
            _stream = stream;
            Volatile.Write(ref _connected, 1);
            using var reader = new BufferedStream(stream, 64 << 10);
            while (DirectFrames.Read(reader, _scratch) is { } frame)
            {
                if (Settle(frame.Id) is { } waiter)
                {
                    Complete(waiter.Reply, frame);
                }
            }

            Break(new EndOfStreamException($"{_target} closed the replica connection."));
        }
        catch (Exception ex)
        {
            Break(ex);
        }
    }

    /// <summary>Takes the batch <paramref name="id"/> off the waiting ones, once; its bytes are no longer unanswered.</summary>
    private Waiter? Settle(long id)
    {
        if (!_waiting.TryRemove(id, out var waiter))
        {
            return null;
        }

        Interlocked.Add(ref _unanswered, -waiter.Bytes);
        return waiter;
    }

    private void Complete(TaskCompletionSource<ReplicaReply[]> reply, ReplicaFrame frame)
    {
        try
        {
            if (frame.Kind == FrameKind.Failed)
            {
                reply.TrySetException(new InvalidOperationException($"{_target} failed a replica batch: {System.Text.Encoding.UTF8.GetString(frame.Body.Span)}"));
                return;
            }

            reply.TrySetResult(_serializer.Deserialize<ReplicaReply[]>(frame.Body.Span) ?? throw new InvalidDataException($"{_target} answered a replica batch with nothing."));
        }
        catch (Exception ex)
        {
            reply.TrySetException(ex);
        }
    }

    private void Sweep()
    {
        if (Volatile.Read(ref _connected) == 0 && _time.GetElapsedTime(_created) >= _replyTimeout)
        {
            Break(new TimeoutException($"The replica connection to {_target} was not made within {_replyTimeout}."));
            return;
        }

        List<Waiter>? late = null;
        foreach (var (id, waiter) in _waiting)
        {
            if (_time.GetElapsedTime(waiter.SentAt) >= _replyTimeout && Settle(id) is { } taken)
            {
                (late ??= []).Add(taken);
            }
        }

        if (late is not null)
        {
            // A silo that leaves a batch unanswered this long is paused or gone: its connection goes with the batch,
            // before the batch fails (what that runs inline must not find the connection still up).
            var timedOut = new TimeoutException($"{_target} left a replica batch unanswered for {_replyTimeout}.");
            Break(timedOut);
            late.ForEach(waiter => waiter.Reply.TrySetException(timedOut));
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
            // The link first, so a batch sent after this one fails does not come here.
            _failed(this, reason);
        }
        catch (Exception)
        {
            // Its log failed (a logging provider's error): not this thread's to end the process with.
        }

        _sweepTimer?.Dispose();
        // Ends the reading thread's blocking read, or its connect.
        _socket.Dispose();
        foreach (var id in _waiting.Keys)
        {
            Settle(id)?.Reply.TrySetException(Unavailable(reason));
        }
    }

    private SiloUnavailableException Unavailable(Exception reason) =>
        new($"The replica connection to {_target} failed: {reason.GetType().Name}: {reason.Message}");

    private sealed record Waiter(TaskCompletionSource<ReplicaReply[]> Reply, int Bytes, long SentAt);
}
