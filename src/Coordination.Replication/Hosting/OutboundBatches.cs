using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Hosting;

/// <summary>
/// Coalesces the replica requests bound for one silo: while a batch to that silo is on its way, the requests
/// that follow wait and leave together in the next one. A lone request leaves at once, so a quiet cluster pays
/// no delay, and a busy one sends one message per silo per round trip instead of one per register. Every
/// request keeps its own reply; the protocol treats a lost batch as lost messages.
/// </summary>
/// <remarks>
/// The pumps run on the thread pool, not on the scheduler of whichever grain happened to start them, and without
/// its execution context (its Orleans <c>RequestContext</c>): a pump carries every later caller's requests too. A
/// destination lives only while requests to it wait or are being pumped, so the silo incarnations ever seen leave
/// nothing behind (a sender always completes or fails its request in the destination it joined). A batch
/// that has not come back within <c>slotTimeout</c> (a paused or cut-off silo) stops holding the way: the next
/// one leaves, and the late one still completes its requests whenever it ends. A silo that keeps not answering
/// cannot make requests pile up: past <see cref="MaxWaiting"/> a request fails at once.
/// </remarks>
internal sealed class OutboundBatches(Func<ReplicaId, ReplicaRequest[], Task<ReplicaReply[]>> send, TimeProvider time, TimeSpan slotTimeout)
{
    /// <summary>Requests to one silo that may wait for a batch; past this a request fails at once (as a lost message).</summary>
    public const int MaxWaiting = 8192;

    /// <summary>Requests in one batch at most: a bound on one message's size.</summary>
    public const int MaxBatch = 512;

    /// <summary>The destinations being pumped now; its lock also guards every destination's queue.</summary>
    private readonly Dictionary<ReplicaId, Destination> _destinations = [];

    /// <summary>Batches sent, for tests and metrics.</summary>
    public long BatchesSent => Interlocked.Read(ref _batchesSent);

    private long _batchesSent;

    /// <summary>Destinations being pumped now, for tests.</summary>
    internal int DestinationCount
    {
        get
        {
            lock (_destinations)
            {
                return _destinations.Count;
            }
        }
    }

    public Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request)
    {
        var pending = new Pending(request);
        Destination? started = null;
        lock (_destinations)
        {
            if (!_destinations.TryGetValue(target, out var destination))
            {
                started = destination = new Destination(target);
                _destinations[target] = destination;
            }

            if (destination.Waiting.Count >= MaxWaiting)
            {
                return Task.FromException<ReplicaReply>(new TimeoutException($"{destination.Waiting.Count} replica requests already wait for {target}: it has not answered for a while."));
            }

            destination.Waiting.Enqueue(pending);
        }

        if (started is not null)
        {
            DetachedWork.Start(() => PumpAsync(started));
        }

        return pending.Reply.Task;
    }

    private async Task PumpAsync(Destination destination)
    {
        while (true)
        {
            Pending[] batch;
            lock (_destinations)
            {
                if (destination.Waiting.Count == 0)
                {
                    _destinations.Remove(destination.Target);
                    return;
                }

                batch = new Pending[Math.Min(destination.Waiting.Count, MaxBatch)];
                for (var i = 0; i < batch.Length; i++)
                {
                    batch[i] = destination.Waiting.Dequeue();
                }
            }

            Interlocked.Increment(ref _batchesSent);
            var sent = SendBatchAsync(destination.Target, batch);
            if (!sent.IsCompleted)
            {
                try
                {
                    await sent.WaitAsync(slotTimeout, time).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // The late batch still completes its own requests when it ends; the way is free for the next.
                }
            }
        }
    }

    private async Task SendBatchAsync(ReplicaId target, Pending[] batch)
    {
        try
        {
            var replies = await send(target, [.. batch.Select(p => p.Request)]).ConfigureAwait(false);
            if (replies.Length != batch.Length)
            {
                throw new InvalidOperationException($"{target} answered {replies.Length} of {batch.Length} replica requests.");
            }

            for (var i = 0; i < batch.Length; i++)
            {
                batch[i].Reply.TrySetResult(replies[i]);
            }
        }
        catch (Exception ex)
        {
            foreach (var pending in batch)
            {
                pending.Reply.TrySetException(ex);
            }
        }
    }

    private sealed class Destination(ReplicaId target)
    {
        public ReplicaId Target { get; } = target;

        public Queue<Pending> Waiting { get; } = new();
    }

    private sealed class Pending(ReplicaRequest request)
    {
        public ReplicaRequest Request { get; } = request;

        public TaskCompletionSource<ReplicaReply> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
