using System.Collections.Concurrent;
using System.Net.Sockets;
using Coordination.Framing;
using Coordination.Lanes;
using Orleans.Serialization;

namespace Coordination.Grains.Lanes;

/// <summary>
/// Writes one lane connection's replies as their grain calls end, in that order (a parked acquire answers after calls
/// read later). The thread that ends a call writes its reply, unless another is writing: then it leaves the reply
/// queued for that one and goes on, so no more than one thread ever waits on the socket (for at most the listener's
/// write timeout, when the client reads nothing and its buffer is full; the connection goes then).
/// </summary>
internal sealed class LaneReplies(Socket socket, Stream stream, Serializer serializer)
{
    private readonly ConcurrentQueue<(long Id, LaneReply Reply)> _queue = new();

    /// <summary>The output buffer, the writing thread's alone.</summary>
    private readonly FrameScratch _scratch = new();
    private int _writing;

    /// <summary>Sends <paramref name="reply"/>'s answer under <paramref name="id"/> once it is there (it never fails: errors are in the reply).</summary>
    public void Answer(long id, Task<LaneReply> reply)
    {
        if (reply.IsCompleted)
        {
            Send(id, reply.GetAwaiter().GetResult());
            return;
        }

        reply.ContinueWith(
            static (ended, state) =>
            {
                var (replies, id) = ((LaneReplies, long))state!;
                replies.Send(id, ended.GetAwaiter().GetResult());
            },
            (this, id),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void Send(long id, LaneReply reply)
    {
        _queue.Enqueue((id, reply));

        // Whoever takes the writing turn writes until the queue is empty, then looks once more after giving it up (a
        // reply queued between its last look and the release would otherwise wait for the next one).
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            try
            {
                Drain();
            }
            finally
            {
                Volatile.Write(ref _writing, 0);
            }
        }
    }

    private void Drain()
    {
        while (_queue.TryDequeue(out var next))
        {
            try
            {
                Frames.WriteTo(stream, Serialized(next.Id, next.Reply));
            }
            catch (Exception)
            {
                // Cut off, timed out or closed: the stream is unusable, and the client hears the connection end (its
                // calls in flight unanswered, sent again). Later replies have nowhere to go.
                socket.Dispose();
                _queue.Clear();
                return;
            }
            finally
            {
                _scratch.TrimOutput();
            }
        }
    }

    /// <summary>The reply's frame; an error that does not serialize is sent as its type and message.</summary>
    private ReadOnlyMemory<byte> Serialized(long id, LaneReply reply)
    {
        try
        {
            return Frames.Write(_scratch, id, (int)LaneFrameKind.Reply, reply, serializer);
        }
        catch (Exception ex) when (reply.Error is { } error)
        {
            var plain = new InvalidOperationException($"{error.GetType().FullName}: {error.Message} (not serializable: {ex.Message})");
            return Frames.Write(_scratch, id, (int)LaneFrameKind.Reply, reply with { Error = plain }, serializer);
        }
    }
}
