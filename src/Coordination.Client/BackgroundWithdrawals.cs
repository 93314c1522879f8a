using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>
/// A session's withdrawals (cancel a request, release a grant, resign): tried now through failovers, then, if
/// the cluster does not answer in time, kept up in the background with backoff until they succeed, fail for good,
/// or the session ends (which withdraws everything anyway), so no grant outlives its use. A cancel of a request
/// whose number is not settled yet settles it once the cluster answered the withdrawal (see <see cref="RequestSequence"/>).
/// </summary>
internal sealed partial class BackgroundWithdrawals(CoordinationSession session, CoordinationClientOptions options, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Withdraws now if the cluster answers in time, otherwise keeps withdrawing in the background. A session that
    /// already ended withdrew everything, so that is success too; any other refusal (not held, not leader) is the
    /// caller's to judge. <paramref name="answered"/> runs once the cluster answered it, now or in the background.
    /// </summary>
    /// <param name="budget">How long the caller waits for it (each call abandoned after as long at most); by default the cleanup budget.</param>
    public async Task WithdrawAsync<T>(Func<Task<T>> withdrawal, Action? answered = null, TimeSpan? budget = null)
    {
        try
        {
            if (!session.IsLost)
            {
                await (budget is { } b
                    ? Retry.UntilAsync(withdrawal, b, b < options.CallTimeout ? b : options.CallTimeout, options.RetryDelay, time, CancellationToken.None)
                    : Retry.UntilAsync(withdrawal, options, time, CancellationToken.None));
                answered?.Invoke();
            }
        }
        catch (Exception ex) when (Retry.IsTransient(ex))
        {
            EnsureEventually(withdrawal, answered);
        }
        catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
        {
            // The session's end withdrew everything it held.
            answered?.Invoke();
        }
        catch
        {
            answered?.Invoke();
            throw;
        }
    }

    /// <summary>
    /// Keeps retrying a withdrawal in the background until it succeeds, fails for good, or the session is lost;
    /// <paramref name="answered"/> runs after the first two. One that fails for good is answered too: a request number
    /// left unsettled would hold the session's settled-through mark back for the rest of its life.
    /// </summary>
    public void EnsureEventually(Func<Task> withdrawal, Action? answered = null) => _ = Task.Run(async () =>
    {
        var lost = session.LostToken;
        var backoff = new Backoff(options.RetryDelay, MaxDelay);
        while (!lost.IsCancellationRequested)
        {
            try
            {
                await withdrawal().WaitAsync(options.CallTimeout, time);
                answered?.Invoke();
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
                answered?.Invoke();
                return;
            }
        }
    });

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Withdrawing a request of session {Session} failed for good")]
    private static partial void LogWithdrawFailed(ILogger logger, Exception exception, string session);
}
