namespace Coordination.Client;

/// <summary>What a reply to a parked request says.</summary>
internal enum ParkedReply
{
    /// <summary>Still waiting in line: ask again with the same id.</summary>
    Queued,

    /// <summary>Granted (a lock) or elected (a campaign).</summary>
    Granted,

    /// <summary>Only when asked if available: someone else holds it, nothing was queued.</summary>
    NotAvailable,
}

/// <summary>One call of a parked request: how long it may park, and the numbers it carries (see <see cref="RequestSequence"/>).</summary>
/// <param name="Park">How long the call may stay parked on the silo.</param>
/// <param name="Sequence">The request's number in its session, the same in every attempt.</param>
/// <param name="SettledThrough">The session's settled-through mark when the call is sent.</param>
internal readonly record struct ParkedAttempt(TimeSpan Park, long Sequence, long SettledThrough);

/// <summary>
/// One kind of parked request (a lock acquire, a campaign), as <see cref="ParkedCallLoop"/> drives it: how to send
/// an attempt (always under the same client-made id), how to read a reply, how to turn a grant into the caller's
/// handle, and how to withdraw it.
/// </summary>
/// <param name="Operation">Names the request in a <see cref="ClusterUnavailableException"/> ("acquire of 'orders/42'").</param>
/// <param name="Primitive">What is asked for, as the client's meter tags it (<see cref="ClientMetrics.Tags.Lock"/> …).</param>
/// <param name="Withdraw">Withdraws the request; it gets the request's number, so its session lets it go too.</param>
internal sealed record ParkedRequest<TResult, TGrant>(
    string Operation,
    string Primitive,
    Func<ParkedAttempt, Task<TResult>> Send,
    Func<TResult, ParkedReply> Read,
    Func<TResult, TGrant> Grant,
    Func<long, Task<CancelOutcome>> Withdraw)
    where TResult : class
    where TGrant : CoordinationGrant;

/// <summary>
/// The wait for a grant shared by acquire and campaign. The request is sent again under its id while queued
/// (each call parked on the silo at most <see cref="CoordinationClientOptions.MaxPark"/>), after a transient
/// failure (a failover, no majority), and at once when a call is abandoned because the client lost a gateway and
/// its silo may have died (<see cref="ClusterChangeSignal"/>); requests are idempotent by id, so asking again is
/// always safe. Any way out other than a usable grant or a clear "not available" withdraws the request, which also
/// undoes a grant that raced it, and keeps withdrawing in the background until it succeeds or the session ends.
/// </summary>
/// <remarks>
/// <para>
/// Each request takes a number from the session's <see cref="RequestSequence"/> (its retries reuse it) and every
/// attempt carries it with the session's settled-through mark. The loop settles the number when a reply says the
/// cluster has the request attached (granted, queued), or when the cluster's answer is final (not available, a typed
/// refusal) and every attempt before it was answered too. An attempt that got no reply (abandoned at its call timeout
/// or when a gateway was lost, or failed with an Orleans runtime error after it may have been delivered) may still
/// execute later; then the request is withdrawn first, even after a clear "not available", and its number is settled
/// once the cluster acknowledged the withdrawal.
/// </para>
/// <para>
/// <see cref="AcquireMode.Wait"/> waits until the deadline; at the deadline, a request whose last call was
/// answered ("queued") ends in null, one whose calls went unanswered or were only abandoned (gateway losses) in a
/// typed error: no reply is never reported as "someone holds it". <see cref="AcquireMode.IfAvailable"/> asks
/// without parking and retries transient failures for <see cref="CoordinationClientOptions.CallGrace"/>.
/// </para>
/// </remarks>
internal static class ParkedCallLoop
{
    /// <summary>The longest pause between the attempts of a request that keep failing for a transient reason.</summary>
    internal static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The session a request goes through, waited for no longer than the request's answer is due (its deadline plus
    /// the call grace): the shared session may be reopening through an outage, with retries of its own.
    /// </summary>
    public static async Task<CoordinationSession> SessionWithinAsync(
        Func<CancellationToken, ValueTask<CoordinationSession>> sessions, string operation, Deadline deadline, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var opening = sessions(cancellationToken).AsTask();
        var due = deadline.RemainingWith(options.CallGrace);
        if (opening.IsCompleted || due == TimeSpan.MaxValue)
        {
            return await opening;
        }

        // If this caller stops waiting (out of time, cancelled), the open goes on for the next request; its error, if
        // any, is observed here.
        _ = opening.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            return await opening.WaitAsync(due, time, cancellationToken);
        }
        catch (TimeoutException ex) when (!opening.IsCompleted)
        {
            throw new ClusterUnavailableException(operation, deadline.Elapsed, ex);
        }
    }

    public static async Task<TGrant?> RunAsync<TResult, TGrant>(
        CoordinationSession session, ParkedRequest<TResult, TGrant> request, AcquireMode mode, Deadline deadline, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken)
        where TResult : class
        where TGrant : CoordinationGrant
    {
        var sequence = session.Requests;
        var number = sequence.Next();
        var withdraw = true;
        var again = false; // the next attempt is sent again after one that failed or went unanswered (a retry, for the meter)
        var unanswered = false;
        var attempted = false;
        Exception? transient = null;
        string? lostBy = null; // the cluster refused the request because the session cannot be used any more
        Backoff? backoff = null; // made at the first transient failure only: the usual acquire never needs one
        try
        {
            while (true)
            {
                session.ThrowIfLost();
                cancellationToken.ThrowIfCancellationRequested();
                var remaining = deadline.Remaining;
                if (mode == AcquireMode.Wait && remaining == TimeSpan.Zero && attempted)
                {
                    return transient is null ? null : throw Unavailable(request.Operation, transient, deadline.Elapsed);
                }

                // Past the deadline plus the call grace (a try-acquire's own wait, or a wait whose session took long to
                // reopen) there is no time left to ask: never told as "not acquired" unless the cluster said so.
                var due = deadline.RemainingWith(options.CallGrace);
                if (due == TimeSpan.Zero)
                {
                    throw Unavailable(request.Operation, transient ?? new TimeoutException("no time was left to ask the cluster"), deadline.Elapsed);
                }

                // Read before the park is decided and the call sent, so a loss in between is not missed.
                var changed = session.Changes.Token;
                var park = mode == AcquireMode.IfAvailable ? TimeSpan.Zero : session.Changes.Park(remaining < options.MaxPark ? remaining : options.MaxPark);
                TResult? result;
                try
                {
                    var attempt = new ParkedAttempt(park, number, sequence.SettledThrough);
                    attempted = true;
                    if (again)
                    {
                        again = false;
                        session.Metrics.RecordRetry(request.Primitive);
                    }

                    result = await session.Changes.UnlessChangedAsync(changed, request.Send(attempt), Shorter(park + options.CallGrace, due), cancellationToken);
                    if (result is null)
                    {
                        unanswered = true;
                        again = true;
                        transient ??= new TimeoutException("the call was abandoned when the client lost a gateway");
                        continue;
                    }
                }
                catch (Exception ex) when (Retry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    unanswered |= !IsReply(ex);
                    transient = ex;
                    again = true;

                    // Through an outage, asked again less and less often (a thousand waiters must not ask ten times a
                    // second each), but never past the deadline, where the wait ends in a typed error.
                    backoff ??= new Backoff(options.RetryDelay, MaxRetryDelay);
                    await Task.Delay(Shorter(backoff.NextDelay(), PauseRoom(mode, deadline, options)), time, cancellationToken);
                    continue;
                }
                catch (SessionExpiredException ex) when (ex.SessionId == session.Id)
                {
                    // The cluster's word that this session can no longer be used (it ended, or an operator revoked it):
                    // every handle of it is lost, and the next call opens a new one, without waiting for a keepalive; once
                    // this request is withdrawn (below), since a lost session withdraws nothing.
                    lostBy = ex.Message;
                    if (!unanswered)
                    {
                        sequence.Settle(number);
                    }

                    throw;
                }
                catch (Exception ex) when (IsRefusal(ex) && !unanswered)
                {
                    // The cluster's last word on a request whose every attempt was answered (it is still withdrawn, as before).
                    sequence.Settle(number);
                    throw;
                }

                transient = null;
                backoff = null;
                var reply = request.Read(result);
                if (reply != ParkedReply.NotAvailable || !unanswered)
                {
                    // Attached (granted, queued), or not available with nothing left that could still queue it.
                    sequence.Settle(number);
                }

                switch (reply)
                {
                    case ParkedReply.Granted:
                        // A grant that reaches a client whose deadline has passed is of no use: it is withdrawn.
                        session.ThrowIfLost();
                        var grant = request.Grant(result);
                        session.Revocations.Register(grant);
                        grant.Track(request.Primitive, session.Metrics, time);
                        withdraw = false;
                        return grant;
                    case ParkedReply.NotAvailable:
                        // An abandoned attempt may still arrive and queue the request: it is withdrawn before its number is settled.
                        withdraw = unanswered;
                        return null;
                }

                if (park == TimeSpan.Zero && mode == AcquireMode.Wait)
                {
                    await Task.Delay(Shorter(options.RetryDelay, deadline.Remaining), time, cancellationToken);
                }
            }
        }
        finally
        {
            if (withdraw && !attempted)
            {
                // Never sent (cancelled, or no time left, before the first attempt): nothing to withdraw.
                sequence.Settle(number);
            }
            else if (withdraw)
            {
                // The caller waits for the withdrawal only until its answer is due (the deadline plus the call grace),
                // and at most a call grace after a cancellation; one the cluster does not answer by then goes on in the
                // background, and still undoes a grant that raced it.
                try
                {
                    await session.Withdrawals.WithdrawAsync(() => request.Withdraw(number), () => sequence.Settle(number), WithdrawalBudget(deadline, options));
                }
                finally
                {
                    if (lostBy is not null)
                    {
                        session.MarkLost(lostBy);
                    }
                }
            }
        }
    }

    /// <summary>
    /// A reply from the cluster (a typed refusal, or no majority): the attempt executed and is over. Anything else
    /// (no reply in time, an Orleans runtime error) may have been delivered and still execute later.
    /// </summary>
    internal static bool IsReply(Exception ex) =>
        ex is CoordinationArgumentException or (CoordinationException and not ClusterUnavailableException);

    /// <summary>A reply that is final: a typed refusal (expired session, bad input, request finished, queue full), not "no majority", whose outcome is unknown.</summary>
    private static bool IsRefusal(Exception ex) => IsReply(ex) && !Retry.IsTransient(ex);

    /// <summary>How long a pause before asking again may last: up to the deadline of a wait, up to the call grace of a request asked only if available.</summary>
    internal static TimeSpan PauseRoom(AcquireMode mode, Deadline deadline, CoordinationClientOptions options) =>
        mode == AcquireMode.Wait ? deadline.Remaining : deadline.RemainingWith(options.CallGrace);

    internal static TimeSpan Shorter(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// How long a caller waits for the withdrawal of a request it gave up: until the request's answer is due (its
    /// deadline plus the call grace), at most a call grace (after a cancellation), at least one retry delay.
    /// </summary>
    internal static TimeSpan WithdrawalBudget(Deadline deadline, CoordinationClientOptions options)
    {
        var due = deadline.RemainingWith(options.CallGrace);
        return due < options.RetryDelay ? options.RetryDelay : due < options.CallGrace ? due : options.CallGrace;
    }

    /// <summary>Our own errors (no majority) as they are; no reply or an Orleans runtime error as <see cref="ClusterUnavailableException"/>.</summary>
    internal static Exception Unavailable(string operation, Exception transient, TimeSpan waited) =>
        transient is CoordinationException ? transient : new ClusterUnavailableException(operation, waited, transient);
}
