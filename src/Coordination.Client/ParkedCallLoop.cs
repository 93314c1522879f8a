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

/// <summary>
/// One kind of parked request (a lock acquire, a campaign), as <see cref="ParkedCallLoop"/> drives it: how to send
/// it with a given park time (always under the same client-made id), how to read a reply, how to turn a grant into
/// the caller's handle, and how to withdraw it.
/// </summary>
/// <param name="Operation">Names the request in a <see cref="ClusterUnavailableException"/> ("acquire of 'orders/42'").</param>
internal sealed record ParkedRequest<TResult, TGrant>(
    string Operation,
    Func<TimeSpan, Task<TResult>> Send,
    Func<TResult, ParkedReply> Read,
    Func<TResult, TGrant> Grant,
    Func<Task<CancelOutcome>> Withdraw)
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
/// <see cref="AcquireMode.Wait"/> waits until the deadline; at the deadline, a request whose last call was
/// answered ("queued") ends in null, one whose calls went unanswered or were only abandoned (gateway losses) in a
/// typed error: no reply is never reported as "someone holds it". <see cref="AcquireMode.IfAvailable"/> asks
/// without parking and retries transient failures for <see cref="CoordinationClientOptions.CallGrace"/>.
/// </remarks>
internal static class ParkedCallLoop
{
    public static async Task<TGrant?> RunAsync<TResult, TGrant>(
        CoordinationSession session, ParkedRequest<TResult, TGrant> request, AcquireMode mode, Deadline deadline, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken)
        where TResult : class
        where TGrant : CoordinationGrant
    {
        var settled = false;
        Exception? transient = null;
        try
        {
            while (true)
            {
                session.ThrowIfLost();
                var remaining = deadline.Remaining;
                if (mode == AcquireMode.Wait && remaining == TimeSpan.Zero)
                {
                    return transient is null ? null : throw Unavailable(request.Operation, transient, deadline.Elapsed);
                }

                if (mode == AcquireMode.IfAvailable && transient is not null && deadline.Elapsed > options.CallGrace)
                {
                    throw Unavailable(request.Operation, transient, deadline.Elapsed);
                }

                // Read before the park is decided and the call sent, so a loss in between is not missed.
                var changed = session.Changes.Token;
                var park = mode == AcquireMode.IfAvailable ? TimeSpan.Zero : session.Changes.Park(remaining < options.MaxPark ? remaining : options.MaxPark);
                TResult? result;
                try
                {
                    result = await session.Changes.UnlessChangedAsync(changed, request.Send(park), park + options.CallGrace, cancellationToken);
                    if (result is null)
                    {
                        transient ??= new TimeoutException("the call was abandoned when the client lost a gateway");
                        continue;
                    }
                }
                catch (Exception ex) when (Retry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    transient = ex;
                    await Task.Delay(options.RetryDelay, time, cancellationToken);
                    continue;
                }

                transient = null;
                switch (request.Read(result))
                {
                    case ParkedReply.Granted:
                        // A grant that reaches a client whose deadline has passed is of no use: it is withdrawn.
                        session.ThrowIfLost();
                        var grant = request.Grant(result);
                        session.Revocations.Register(grant);
                        settled = true;
                        return grant;
                    case ParkedReply.NotAvailable:
                        settled = true;
                        return null;
                }

                if (park == TimeSpan.Zero && mode == AcquireMode.Wait)
                {
                    await Task.Delay(options.RetryDelay, time, cancellationToken);
                }
            }
        }
        finally
        {
            if (!settled)
            {
                await session.Withdrawals.WithdrawAsync(request.Withdraw);
            }
        }
    }

    /// <summary>Our own errors (no majority) as they are; no reply or an Orleans runtime error as <see cref="ClusterUnavailableException"/>.</summary>
    private static Exception Unavailable(string operation, Exception transient, TimeSpan waited) =>
        transient is CoordinationException ? transient : new ClusterUnavailableException(operation, waited, transient);
}
