using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
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
internal sealed class DirectConnection : IDisposable
{
    private readonly ReplicaId _target;
    private readonly Socket _socket;
    private readonly Serializer _serializer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _replyTimeout;
    private readonly Action<DirectConnection, Exception> _failed;
    private readonly Task<NetworkStream?> _connected;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<ReplicaReply[]>> _waiting = new();
    private long _nextId;
    private Exception? _broken;

    public DirectConnection(ReplicaId target, IPEndPoint endpoint, byte[] hello, Serializer serializer, TimeProvider time, TimeSpan replyTimeout, Action<DirectConnection, Exception> failed)
    {
        _target = target;
        _serializer = serializer;
        _time = time;
        _replyTimeout = replyTimeout;
        _failed = failed;
        _socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        // Never inline: a failure must reach the link after it holds this connection.
        _connected = Task.Run(() => ConnectAsync(endpoint, hello));
    }

    /// <summary>Batches waiting for their replies.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>Made, and not broken: batches may go on it.</summary>
    public bool IsConnected => _connected is { IsCompletedSuccessfully: true, Result: not null } && Volatile.Read(ref _broken) is null;

    public async Task<ReplicaReply[]> SendAsync(ReplicaRequest[] batch)
    {
        var stream = await _connected.ConfigureAwait(false) ?? throw Unavailable(Volatile.Read(ref _broken)!);
        var id = Interlocked.Increment(ref _nextId);
        // Completed by the reading loop, which runs what follows inline (it only hands replies on and sends the next
        // batch, never waiting on this connection's reads): no thread-pool hop per reply.
        var reply = new TaskCompletionSource<ReplicaReply[]>();
        _waiting[id] = reply;
        try
        {
            if (Volatile.Read(ref _broken) is { } broken)
            {
                throw Unavailable(broken);
            }

            var frame = DirectFrames.Frame(id, FrameKind.Batch, _serializer.SerializeToArray(batch));
            using (var timeout = new CancellationTokenSource(_replyTimeout, _time))
            {
                await _writing.WaitAsync(timeout.Token).ConfigureAwait(false);
                try
                {
                    await stream.WriteAsync(frame, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // A write cut off halfway leaves the stream unusable: the connection goes.
                    Break(ex);
                    throw Unavailable(ex);
                }
                finally
                {
                    _writing.Release();
                }
            }

            ReplicationMetrics.DirectFramesSent.Add(1);
            try
            {
                return await reply.Task.WaitAsync(_replyTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException ex)
            {
                // A silo that leaves a batch unanswered this long is paused or gone: its connection goes with the batch.
                Break(ex);
                throw;
            }
        }
        finally
        {
            _waiting.TryRemove(id, out _);
        }
    }

    public void Dispose() => Break(new ObjectDisposedException(nameof(DirectConnection)));

    /// <summary>The stream once connected and greeted; null (never a fault nobody observes) when that failed.</summary>
    private async Task<NetworkStream?> ConnectAsync(IPEndPoint endpoint, byte[] hello)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_replyTimeout, _time);
            await _socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            var stream = new NetworkStream(_socket, ownsSocket: true);
            await stream.WriteAsync(hello, timeout.Token).ConfigureAwait(false);
            DetachedWork.Start(() => ReadAsync(stream));
            return stream;
        }
        catch (Exception ex)
        {
            Break(ex);
            return null;
        }
    }

    private async Task ReadAsync(NetworkStream stream)
    {
        try
        {
            await using var reader = new BufferedStream(stream, 64 << 10);
            var header = new byte[DirectFrames.HeaderLength];
            while (await DirectFrames.ReadAsync(reader, header, CancellationToken.None).ConfigureAwait(false) is { } frame)
            {
                if (_waiting.TryRemove(frame.Id, out var reply))
                {
                    Complete(reply, frame);
                }
            }

            Break(new EndOfStreamException($"{_target} closed the replica connection."));
        }
        catch (Exception ex)
        {
            Break(ex);
        }
    }

    private void Complete(TaskCompletionSource<ReplicaReply[]> reply, ReplicaFrame frame)
    {
        try
        {
            if (frame.Kind == FrameKind.Failed)
            {
                reply.TrySetException(new InvalidOperationException($"{_target} failed a replica batch: {Encoding.UTF8.GetString(frame.Body)}"));
                return;
            }

            reply.TrySetResult(_serializer.Deserialize<ReplicaReply[]>(frame.Body) ?? throw new InvalidDataException($"{_target} answered a replica batch with nothing."));
        }
        catch (Exception ex)
        {
            reply.TrySetException(ex);
        }
    }

    private void Break(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _broken, reason, null) is not null)
        {
            return;
        }

        // The link first, so a batch sent after this one fails does not come here.
        _failed(this, reason);
        _socket.Dispose();
        foreach (var id in _waiting.Keys)
        {
            if (_waiting.TryRemove(id, out var reply))
            {
                reply.TrySetException(Unavailable(reason));
            }
        }
    }

    private SiloUnavailableException Unavailable(Exception reason) =>
        new($"The replica connection to {_target} failed: {reason.GetType().Name}: {reason.Message}");
}
