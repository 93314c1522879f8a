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
/// A pump sends its first batch on the thread of the caller that started it (<c>send</c> must not make a grain call
/// there: it hands those to the thread pool), then runs on the thread pool, not on the scheduler of whichever grain
/// happened to start it, and without its execution context (its Orleans <c>RequestContext</c>): a pump carries every
/// later caller's requests too. A
/// destination lives only while requests to it wait or are being pumped, so the silo incarnations ever seen leave
/// nothing behind (a sender always completes or fails its request in the destination it joined). A batch
/// that has not come back within <c>slotTimeout</c> (a paused or cut-off silo) stops holding the way: the next
/// one leaves, and the late one still completes its requests whenever it ends. A silo that keeps not answering
/// cannot make requests pile up: past <see cref="MaxWaiting"/> a request fails at once. A request nobody waits on
/// (<see cref="SendLaterAsync"/>) lingers for company instead of leaving alone.
/// </remarks>
/// <param name="linger">How long a request sent with <see cref="SendLaterAsync"/> waits for a batch to ride with.</param>
internal sealed class OutboundBatches(Func<ReplicaId, ReplicaRequest[], Task<ReplicaReply[]>> send, TimeProvider time, TimeSpan slotTimeout, TimeSpan linger)
{
    /// <summary>
    /// How long background requests wait for a batch to ride with: long enough that a busy silo sends them with its
    /// rounds (a lock per entity retires a register, two forgets, per name), short next to anything that waits on them.
    /// </summary>
    public static readonly TimeSpan DefaultLinger = TimeSpan.FromMilliseconds(20);

    /// <summary>Requests to one silo that may wait for a batch; past this a request fails at once (as a lost message).</summary>
    public const int MaxWaiting = 8192;

    /// <summary>Requests in one batch at most: a bound on one message's size.</summary>
    public const int MaxBatch = 512;

    /// <summary>The destinations being pumped now; its lock also guards every destination's queue and <see cref="_lingering"/>.</summary>
    private readonly Dictionary<ReplicaId, Destination> _destinations = [];

    /// <summary>Background requests to silos no batch is bound for yet, each list until a batch takes it or its linger ends.</summary>
    private readonly Dictionary<ReplicaId, List<Pending>> _lingering = [];

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
            if (_destinations.TryGetValue(target, out var destination))
            {
                return Join(destination, pending);
            }

            started = Open(target, pending);
        }

        // The first batch leaves on the caller's thread (a lone request pays no thread-pool hop); the pump goes on
        // without the caller's execution context, and its awaits do not come back to the caller's scheduler.
        DetachedWork.StartHere(() => PumpAsync(started));
        return pending.Reply.Task;
    }

    /// <summary>
    /// Sends a request nobody waits on (a tombstone's forget): it leaves with the next batch to that silo, or on its
    /// own once it has lingered, so background traffic rides on the rounds of a busy silo instead of costing messages.
    /// </summary>
    public Task<ReplicaReply> SendLaterAsync(ReplicaId target, ReplicaRequest request)
    {
        var pending = new Pending(request);
        lock (_destinations)
        {
            if (_destinations.TryGetValue(target, out var destination))
            {
                // A batch to that silo is on its way: this one leaves with the next.
                return Join(destination, pending);
            }

            if (!_lingering.TryGetValue(target, out var held))
            {
                held = [];
                _lingering[target] = held;
                // The delay starts now, not when the thread pool gets to it.
                var (mine, lingered) = (held, Task.Delay(linger, time));
                DetachedWork.Start(() => LingerAsync(target, mine, lingered));
            }

            if (held.Count >= MaxWaiting)
            {
                return Full(held.Count, target);
            }

            held.Add(pending);
        }

        return pending.Reply.Task;
    }

    private static Task<ReplicaReply> Join(Destination destination, Pending pending)
    {
        if (destination.Waiting.Count >= MaxWaiting)
        {
            return Full(destination.Waiting.Count, destination.Target);
        }

        destination.Waiting.Enqueue(pending);
        return pending.Reply.Task;
    }

    private static Task<ReplicaReply> Full(int waiting, ReplicaId target) =>
        Task.FromException<ReplicaReply>(new TimeoutException($"{waiting} replica requests already wait for {target}: it has not answered for a while."));

    /// <summary>
    /// Makes the destination of <paramref name="target"/> (call under the lock, when it has none) with
    /// <paramref name="first"/> first and what lingered for that silo behind it: a destination and a lingering list
    /// never exist together. The caller pumps it.
    /// </summary>
    private Destination Open(ReplicaId target, Pending? first)
    {
        var destination = new Destination(target);
        _destinations[target] = destination;
        if (first is not null)
        {
            destination.Waiting.Enqueue(first);
        }

        if (_lingering.Remove(target, out var held))
        {
            // Each list is bounded on its own, so the queue holds at most one request more than the bound.
            foreach (var background in held)
            {
                destination.Waiting.Enqueue(background);
            }
        }

        return destination;
    }

    /// <summary>Sends what lingered for <paramref name="target"/> once the linger ends, unless a batch took it meanwhile.</summary>
    private async Task LingerAsync(ReplicaId target, List<Pending> held, Task lingered)
    {
        await lingered.ConfigureAwait(false);
        Destination started;
        lock (_destinations)
        {
            if (!_lingering.TryGetValue(target, out var current) || !ReferenceEquals(current, held))
            {
                return;
            }

            started = Open(target, null);
        }

        await PumpAsync(started).ConfigureAwait(false);
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
