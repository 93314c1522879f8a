using Coordination.Grains.Hosting;

namespace Coordination.Grains.Sessions;

/// <summary>
/// The detaches this silo's locks and values send to one session, in as few calls as the load allows: while a call to
/// a session is on its way, the detaches that follow wait and leave together in the next one (a lone detach leaves at
/// once). A lock per entity lets go of its finished requests on a grid (<see cref="Leases.TimerGrid"/>), so the locks
/// of a silo released within one step detach in one call, whose shards' rounds then travel in shared batches.
/// </summary>
/// <remarks>
/// A detach whose shard had no majority fails alone (the session returns it), and a failed call fails every detach
/// it carried: each caller retries its own (a detach is idempotent). Calls leave from the thread pool, outside any
/// grain's context and execution context (<see cref="DetachedWork"/>), so no activation carries another's pump.
/// </remarks>
internal sealed class SessionDetaches(IGrainFactory grains)
{
    /// <summary>Most detaches in one call (a call carries about 60 bytes per detach).</summary>
    public const int MaxPerCall = 512;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<(Attachment Attachment, TaskCompletionSource Done)>> _waiting = new(StringComparer.Ordinal);

    /// <summary>A retiring cover's settle (<see cref="ISessionGrainInternal.SettleCover"/>): rare (once per retirement of a reused name), so sent on its own.</summary>
    public Task SettleCoverAsync(string sessionId, Holding holding, long sequence, long settledThrough) =>
        grains.Reference<ISessionGrainInternal>(sessionId).SettleCover(holding, sequence, settledThrough);

    /// <summary>Lets (holding, sequence) go at <paramref name="sessionId"/>; completes when the session has, with its typed errors.</summary>
    public Task DetachAsync(string sessionId, Holding holding, long sequence)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_gate)
        {
            start = !_waiting.TryGetValue(sessionId, out var waiting);
            if (start)
            {
                _waiting[sessionId] = waiting = [];
            }

            waiting!.Add((new Attachment(holding, sequence), done));
        }

        if (start)
        {
            DetachedWork.Start(() => PumpAsync(sessionId));
        }

        return done.Task;
    }

    /// <summary>Sends what waits for the session, batch after batch, until nothing does; then the session's entry goes.</summary>
    private async Task PumpAsync(string sessionId)
    {
        while (true)
        {
            List<(Attachment Attachment, TaskCompletionSource Done)> batch;
            lock (_gate)
            {
                var waiting = _waiting[sessionId];
                if (waiting.Count == 0)
                {
                    _waiting.Remove(sessionId);
                    return;
                }

                batch = waiting.Count <= MaxPerCall ? [.. waiting] : waiting.GetRange(0, MaxPerCall);
                waiting.RemoveRange(0, batch.Count);
            }

            try
            {
                var failed = (await grains.Reference<ISessionGrainInternal>(sessionId).DetachMany([.. batch.Select(b => b.Attachment)])).ToHashSet();
                foreach (var (attachment, done) in batch)
                {
                    if (failed.Contains(attachment))
                    {
                        done.TrySetException(new QuorumUnavailableException(SessionIds.Tag(sessionId), 0, 0, "the part of the session this request belongs to could not let it go (no majority); retry"));
                    }
                    else
                    {
                        done.TrySetResult();
                    }
                }
            }
            catch (Exception ex)
            {
                batch.ForEach(b => b.Done.TrySetException(ex));
            }
        }
    }
}
