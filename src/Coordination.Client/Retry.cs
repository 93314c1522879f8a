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
        ex is CoordinationException { IsTransient: true } or OrleansException or Orleans.Runtime.Messaging.ConnectionFailedException or TimeoutException;

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
        var first = true;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                // Every attempt ends within the budget; the first is always made, with at least a retry delay.
                var left = deadline.Remaining;
                var limit = first && left < delay ? delay : left;
                first = false;
                return await operation().WaitAsync(limit < callTimeout ? limit : callTimeout, time, cancellationToken);
            }
            catch (Exception ex) when (IsTransient(ex) && !deadline.IsPassed)
            {
                var left = deadline.Remaining;
                await Task.Delay(left < delay ? left : delay, time, cancellationToken);
                if (deadline.IsPassed)
                {
                    Final(ex, budget);
                }
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                Final(ex, budget);
            }
        }
    }

    /// <summary>The last error of a spent budget: one of ours as it is, anything else as <see cref="ClusterUnavailableException"/>.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Final(Exception last, TimeSpan budget)
    {
        if (last is CoordinationException)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(last);
        }

        throw new ClusterUnavailableException("a call to the cluster", budget, last);
    }
}
