namespace Coordination.Client;

/// <summary>
/// Calls that wait on the silo for a change without changing anything (a watch, a latch wait): each call parks at
/// most <see cref="CoordinationClientOptions.MaxPark"/>, and one that fails for a transient reason (a failover, no
/// majority) or is abandoned because the client lost a gateway (its silo may have died, see
/// <see cref="ClusterChangeSignal"/>) is simply made again: they change nothing, so asking again is always safe.
/// </summary>
internal static class ParkedReads
{
    /// <summary>
    /// Calls <paramref name="call"/> with the park it may use until one answers, or until <paramref name="deadline"/>
    /// passes: then null if no call was made or the last one was answered, and the outage as a typed error if the
    /// calls since went unanswered or failed (an outage is never told as "not yet").
    /// </summary>
    /// <param name="operation">Names the call in a <see cref="ClusterUnavailableException"/> ("wait for latch 'x'").</param>
    public static async Task<T?> CallAsync<T>(string operation, Func<TimeSpan, Task<T>> call, ClusterChangeSignal changes, Deadline deadline, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken)
        where T : class
    {
        Exception? failed = null;
        Backoff? backoff = null; // made at the first transient failure only
        while (!deadline.IsPassed)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Read before the park is decided and the call sent, so a loss in between is not missed.
            var changed = changes.Token;
            var remaining = deadline.Remaining;
            var park = changes.Park(remaining < options.MaxPark ? remaining : options.MaxPark);
            try
            {
                if (await changes.UnlessChangedAsync(changed, call(park), park + options.CallGrace, cancellationToken) is { } answer)
                {
                    return answer;
                }

                failed = new TimeoutException("the call was abandoned when the client lost a gateway");
            }
            catch (Exception ex) when (Retry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                failed = ex;
                backoff ??= new Backoff(options.RetryDelay, ParkedCallLoop.MaxRetryDelay);
                await Task.Delay(ParkedCallLoop.Shorter(backoff.NextDelay(), deadline.Remaining), time, cancellationToken);
                continue;
            }

            if (park == TimeSpan.Zero)
            {
                // Shortly after a change calls do not park: pace them.
                await Task.Delay(options.RetryDelay, time, cancellationToken);
            }
        }

        return failed is null ? null : throw ParkedCallLoop.Unavailable(operation, failed, deadline.Elapsed);
    }
}
