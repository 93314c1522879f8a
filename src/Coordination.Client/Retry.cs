namespace Coordination.Client;

/// <summary>Retrying calls that failed for a reason a later attempt can fix: a silo failing over, no majority for a moment, a call abandoned.</summary>
internal static class Retry
{
    /// <summary>
    /// No majority, no reply, or an Orleans runtime error (a gateway or silo unreachable or declared dead, a
    /// placement on a dead silo, a rejected message): a later attempt, through another gateway or after the
    /// failover, can succeed. Our own refusals (expired session, bad input, not held) are final.
    /// </summary>
    public static bool IsTransient(Exception ex) =>
        ex is QuorumUnavailableException or ClusterUnavailableException or OrleansException or Orleans.Runtime.Messaging.ConnectionFailedException or TimeoutException;

    /// <summary>
    /// Runs <paramref name="operation"/> (each attempt abandoned after <see cref="CoordinationClientOptions.CallTimeout"/>)
    /// until it succeeds, fails for a non-transient reason, or the retry budget runs out. Then the last error is
    /// thrown as one of ours: a <see cref="CoordinationException"/> as it is, anything else (Orleans' own
    /// unavailability errors, a call timeout) as <see cref="ClusterUnavailableException"/>.
    /// </summary>
    public static Task<T> UntilAsync<T>(Func<Task<T>> operation, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        UntilAsync(operation, options.CleanupTimeout, options.CallTimeout, options.RetryDelay, time, cancellationToken);

    public static async Task<T> UntilAsync<T>(Func<Task<T>> operation, TimeSpan budget, TimeSpan callTimeout, TimeSpan delay, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = Deadline.FromNow(budget, time);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return await operation().WaitAsync(callTimeout, time, cancellationToken);
            }
            catch (Exception ex) when (IsTransient(ex) && !deadline.IsPassed)
            {
                await Task.Delay(delay, time, cancellationToken);
            }
            catch (Exception ex) when (IsTransient(ex) && ex is not CoordinationException)
            {
                throw new ClusterUnavailableException("a call to the cluster", budget, ex);
            }
        }
    }
}
