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
/// The pumps run on the thread pool, not on the scheduler of whichever grain happened to start them. A batch
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

    private readonly Dictionary<ReplicaId, Destination> _destinations = [];

    /// <summary>Batches sent, for tests and metrics.</summary>
    public long BatchesSent => Interlocked.Read(ref _batchesSent);

    private long _batchesSent;

    public Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request)
    {
        Destination destination;
        lock (_destinations)
        {
            if (!_destinations.TryGetValue(target, out destination!))
            {
                destination = new Destination(target);
                _destinations[target] = destination;
            }
        }

        var pending = new Pending(request);
        bool start;
        lock (destination)
        {
            if (destination.Waiting.Count >= MaxWaiting)
            {
                return Task.FromException<ReplicaReply>(new TimeoutException($"{destination.Waiting.Count} replica requests already wait for {target}: it has not answered for a while."));
            }

            destination.Waiting.Enqueue(pending);
            start = !destination.Pumping;
            destination.Pumping = true;
        }

        if (start)
        {
            _ = Task.Run(() => PumpAsync(destination));
        }

        return pending.Reply.Task;
    }

    private async Task PumpAsync(Destination destination)
    {
        while (true)
        {
            Pending[] batch;
            lock (destination)
            {
                if (destination.Waiting.Count == 0)
                {
                    destination.Pumping = false;
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

        public bool Pumping { get; set; }
    }

    private sealed class Pending(ReplicaRequest request)
    {
        public ReplicaRequest Request { get; } = request;

        public TaskCompletionSource<ReplicaReply> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
