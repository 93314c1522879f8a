namespace Coordination.Client;

/// <summary>Retrying calls that failed for a reason a later attempt can fix: a silo failing over, no majority for a moment, a call abandoned.</summary>
internal static class Retry
{
    public static bool IsTransient(Exception ex) =>
        ex is QuorumUnavailableException or SiloUnavailableException or OrleansMessageRejectionException or TimeoutException or GatewayTooBusyException;

    /// <summary>
    /// Runs <paramref name="operation"/> (each attempt abandoned after <see cref="CoordinationClientOptions.CallTimeout"/>)
    /// until it succeeds, fails for a non-transient reason, or the retry budget runs out (then the last error is thrown).
    /// </summary>
    public static Task<T> UntilAsync<T>(Func<Task<T>> operation, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        UntilAsync(operation, options.CleanupTimeout, options.CallTimeout, options.RetryDelay, time, cancellationToken);

    public static async Task<T> UntilAsync<T>(Func<Task<T>> operation, TimeSpan budget, TimeSpan callTimeout, TimeSpan delay, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetTimestamp() + (long)(budget.TotalSeconds * time.TimestampFrequency);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return await operation().WaitAsync(callTimeout, time, cancellationToken);
            }
            catch (Exception ex) when (IsTransient(ex) && time.GetTimestamp() < deadline)
            {
                await Task.Delay(delay, time, cancellationToken);
            }
        }
    }
}
