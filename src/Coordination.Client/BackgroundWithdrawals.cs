using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>
/// A session's withdrawals (cancel a request, release a grant, resign): tried now through failovers, then, if
/// the cluster does not answer in time, kept up in the background with backoff until they succeed, fail for good,
/// or the session ends (which withdraws everything anyway), so no grant outlives its use.
/// </summary>
internal sealed partial class BackgroundWithdrawals(CoordinationSession session, CoordinationClientOptions options, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Withdraws now if the cluster answers in time, otherwise keeps withdrawing in the background. A session that
    /// already ended withdrew everything, so that is success too; any other refusal (not held, not leader) is the
    /// caller's to judge.
    /// </summary>
    public async Task WithdrawAsync<T>(Func<Task<T>> withdrawal)
    {
        try
        {
            if (!session.IsLost)
            {
                await Retry.UntilAsync(withdrawal, options, time, CancellationToken.None);
            }
        }
        catch (Exception ex) when (Retry.IsTransient(ex))
        {
            EnsureEventually(withdrawal);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            // The session's end withdrew everything it held.
        }
    }

    /// <summary>Keeps retrying a withdrawal in the background until it succeeds, fails for good, or the session is lost.</summary>
    public void EnsureEventually(Func<Task> withdrawal) => _ = Task.Run(async () =>
    {
        var lost = session.LostToken;
        var backoff = new Backoff(options.RetryDelay, MaxDelay);
        while (!lost.IsCancellationRequested)
        {
            try
            {
                await withdrawal().WaitAsync(options.CallTimeout, time);
                return;
            }
            catch (Exception ex) when (Retry.IsTransient(ex))
            {
                try
                {
                    await backoff.DelayAsync(time, lost);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (Exception ex)
            {
                LogWithdrawFailed(logger, ex, session.Tag);
                return;
            }
        }
    });

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Withdrawing a request of session {Session} failed for good")]
    private static partial void LogWithdrawFailed(ILogger logger, Exception exception, string session);
}
