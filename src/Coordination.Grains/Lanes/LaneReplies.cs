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
/// write timeout, when the client reads nothing and its buffer is full; the connection goes then). Each reply written
/// for a call (not a ping's answer) runs <c>settled</c> (the listener counts the connection's calls in flight by it).
/// </summary>
internal sealed class LaneReplies(Socket socket, Stream stream, Serializer serializer, Action? settled = null)
{
    private readonly ConcurrentQueue<(long Id, LaneReply Reply)> _queue = new();

    /// <summary>The output buffer, the writing thread's alone.</summary>
    private readonly FrameScratch _scratch = new();
    private int _writing;
    private int _pongQueued;

    /// <summary>Sends <paramref name="reply"/> under <paramref name="id"/>: now, or after the reply being written.</summary>
    public void Send(long id, LaneReply reply)
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
                // A full fence: the queue's next look must not be read before the turn is given up (a reply queued by a
                // thread that found the turn taken would otherwise wait for the connection's next one).
                Interlocked.Exchange(ref _writing, 0);
            }
        }
    }

    /// <summary>Answers a ping under <paramref name="id"/>, unless an answer to an earlier one is still queued.</summary>
    public void Pong(long id)
    {
        if (Interlocked.CompareExchange(ref _pongQueued, 1, 0) == 0)
        {
            Send(id, LaneReply.Pong);
        }
    }

    /// <summary>A call whose reply is not sent (fault injection): it no longer counts as in flight.</summary>
    public void Skip() => settled?.Invoke();

    private void Drain()
    {
        while (_queue.TryDequeue(out var next))
        {
            try
            {
                Frames.WriteTo(stream, Frames.Write(_scratch, next.Id, (int)LaneFrameKind.Reply, next.Reply, serializer));
                Locks.LockMetrics.LaneFramesSent.Add(1);
                if (ReferenceEquals(next.Reply, LaneReply.Pong))
                {
                    Volatile.Write(ref _pongQueued, 0);
                }
                else
                {
                    settled?.Invoke();
                }
            }
            catch (Exception)
            {
                // Cut off, timed out or closed (the stream is unusable), or a reply that does not serialize (an error of
                // a type the codec cannot write, which the client must not hear as some other error): the connection
                // goes, and the client hears its calls in flight as unanswered and sends them again.
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
}
