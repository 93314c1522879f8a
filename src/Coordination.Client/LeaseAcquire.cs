namespace Coordination.Client;

/// <summary>
/// One acquire of a semaphore's permit or a reader-writer lock, as <see cref="CoordinationLock"/> runs its own:
/// a client-made request id and a number in its session, parked calls re-sent under that id by
/// <see cref="ParkedCallLoop"/>, and a withdrawal (cancel(id), which also undoes a grant that raced it) on any way
/// out other than a grant or a clear "not available". Arguments are checked at the call, before any task exists,
/// as DistributedLock's callers expect.
/// </summary>
internal sealed class LeaseAcquire(Func<CancellationToken, ValueTask<CoordinationSession>> sessions, CoordinationClientOptions options, TimeProvider time, ClientMetrics? metrics = null)
{
    private readonly ClientMetrics _metrics = metrics ?? ClientMetrics.Shared;

    /// <summary>The longest finite timeout DistributedLock accepts: <see cref="int.MaxValue"/> milliseconds.</summary>
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

    public CoordinationClientOptions Options => options;

    public TimeProvider Time => time;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> at the call for a negative timeout other than infinite, or one past <see cref="int.MaxValue"/> milliseconds.</summary>
    public static TimeSpan Validate(TimeSpan timeout, string argument = "timeout") =>
        (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan) || timeout > MaxTimeout
            ? throw new ArgumentOutOfRangeException(argument, timeout, $"A timeout must be zero to {MaxTimeout}, or Timeout.InfiniteTimeSpan.")
            : timeout;

    /// <summary>Takes the grant within <paramref name="timeout"/> (already validated; zero: only if free now), or null.</summary>
    /// <param name="primitive">What is acquired, as the client's meter tags it.</param>
    /// <param name="send">Sends one attempt: (session, request id, mode, attempt).</param>
    /// <param name="grant">Makes the handle from (session, request id, token).</param>
    /// <param name="withdraw">Withdraws the request: (session, request id, its number).</param>
    public Task<THandle?> RunAsync<THandle>(
        string operation,
        string primitive,
        TimeSpan timeout,
        Func<CoordinationSession, Guid, AcquireMode, ParkedAttempt, Task<AcquireResult>> send,
        Func<CoordinationSession, Guid, long, THandle> grant,
        Func<CoordinationSession, Guid, long, Task<CancelOutcome>> withdraw,
        CancellationToken cancellationToken)
        where THandle : CoordinationGrant
    {
        return _metrics.MeasureAsync(primitive, time, RunUnmeasuredAsync, cancellationToken);

        async Task<THandle?> RunUnmeasuredAsync()
        {
            cancellationToken.ThrowIfCancellationRequested();
            var deadline = Deadline.FromNow(timeout, time);
            var session = await ParkedCallLoop.SessionWithinAsync(sessions, operation, deadline, options, time, cancellationToken);
            session.ThrowIfLost();

            var requestId = Guid.NewGuid();
            var mode = timeout == TimeSpan.Zero ? AcquireMode.IfAvailable : AcquireMode.Wait;
            var request = new ParkedRequest<AcquireResult, THandle>(
                operation,
                primitive,
                attempt => send(session, requestId, mode, attempt),
                result => result.Status switch
                {
                    AcquireStatus.Granted => ParkedReply.Granted,
                    AcquireStatus.NotAvailable => ParkedReply.NotAvailable,
                    _ => ParkedReply.Queued,
                },
                result => grant(session, requestId, result.FencingToken),
                sequence => withdraw(session, requestId, sequence));
            return await ParkedCallLoop.RunAsync(session, request, mode, deadline, options, time, cancellationToken);
        }
    }

    /// <summary>The same, throwing <see cref="TimeoutException"/> instead of returning null.</summary>
    public static async Task<THandle> OrThrowAsync<THandle>(Task<THandle?> acquire, string what, TimeSpan timeout)
        where THandle : class =>
        await acquire ?? throw new TimeoutException($"{what} was not acquired within {timeout}.");
}
