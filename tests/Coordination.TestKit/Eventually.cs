namespace Coordination.TestKit;

/// <summary>
/// Polls a condition until it holds or a deadline passes, then fails with what was expected; retries an
/// operation through the typed errors of a failover. Never a bare sleep. Shared by the in-process cluster
/// tests, the process tests and the benchmarks.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest wait for one attempt: a call sent to a silo just killed can wait for Orleans' 30 s response
    /// timeout, past the whole deadline; it is abandoned (it may still complete: retried operations must be
    /// idempotent or harmless twice) and tried again instead.
    /// </summary>
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The attempt's limit: <see cref="AttemptTimeout"/>, or what is left before the deadline if less (at least 1 s).</summary>
    private static TimeSpan AttemptLimit(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > AttemptTimeout ? AttemptTimeout : left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1);
    }

    public static async Task Async(Func<Task<bool>> condition, TimeSpan timeout, string expectation)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition().WaitAsync(AttemptLimit(deadline)))
                {
                    return;
                }
            }
            catch (Exception ex)
            {
                last = ex;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Expected within {timeout.TotalSeconds:0.#} s: {expectation}." + (last is null ? string.Empty : $" Last error: {last.Message}"), last);
            }

            await Task.Delay(PollInterval);
        }
    }

    public static Task Async(Func<bool> condition, TimeSpan timeout, string expectation) =>
        Async(() => Task.FromResult(condition()), timeout, expectation);

    /// <summary>
    /// Retries an operation that may fail with a typed, retryable error (no quorum, a silo gone, a call
    /// timed out or rejected) until it succeeds; past the deadline it fails saying what it was doing, with the last error inside.
    /// </summary>
    public static async Task<T> Retry<T>(Func<Task<T>> operation, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return await operation().WaitAsync(AttemptLimit(deadline));
            }
            catch (Exception ex) when (ex is QuorumUnavailableException or SiloUnavailableException or TimeoutException or OrleansMessageRejectionException)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"Not done within {timeout.TotalSeconds:0.#} s: {what}. Last error: {ex.Message}", ex);
                }

                await Task.Delay(PollInterval);
            }
        }
    }
}
