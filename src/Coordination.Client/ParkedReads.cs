namespace Coordination.Client;

/// <summary>
/// Calls that wait on the silo for a change without changing anything (a watch, a latch wait): each call parks at
/// most <see cref="CoordinationClientOptions.MaxPark"/>, and one that fails for a transient reason (a failover, no
/// majority) or is abandoned because the client lost a gateway (its silo may have died, see
/// <see cref="ClusterChangeSignal"/>) is simply made again: they change nothing, so asking again is always safe.
/// </summary>
internal static class ParkedReads
{
    /// <summary>Calls <paramref name="call"/> with the park it may use until one answers, or until <paramref name="deadline"/> passes (then null).</summary>
    public static async Task<T?> CallAsync<T>(Func<TimeSpan, Task<T>> call, ClusterChangeSignal changes, Deadline deadline, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken)
        where T : class
    {
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
            }
            catch (Exception ex) when (Retry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(options.RetryDelay, time, cancellationToken);
                continue;
            }

            if (park == TimeSpan.Zero)
            {
                // Shortly after a change calls do not park: pace them.
                await Task.Delay(options.RetryDelay, time, cancellationToken);
            }
        }

        return null;
    }
}
