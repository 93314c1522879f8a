using System.Collections.Immutable;

namespace Coordination.Grains.Leases;

/// <summary>
/// The requests a queue remembers as finished while their sessions still list them (see
/// <see cref="FinishedRequests{TQueue}"/>), with the mark below which forgotten ones lie, as one value every kind of
/// queue keeps. Bounded: past <see cref="Max"/> the oldest is forgotten, which raises the mark, so a repeated
/// release of its token stays harmless.
/// </summary>
/// <param name="ForgottenBelow">Finished requests with tokens up to this one may have been forgotten.</param>
internal readonly record struct FinishedLog(ImmutableList<FinishedRequest> Finished, long ForgottenBelow)
{
    /// <summary>
    /// Most finished requests kept while their sessions are told to let go of them (normally a handful, gone
    /// within a round trip; only an unreachable session lets them pile up).
    /// </summary>
    public const int Max = 1024;

    public FinishedRequest? Find(string sessionId, Guid requestId) => Find(Finished, sessionId, requestId);

    /// <summary>The finished request (session, request) in <paramref name="finished"/>, if there.</summary>
    public static FinishedRequest? Find(ImmutableList<FinishedRequest> finished, string sessionId, Guid requestId)
    {
        // A loop, not a lambda: every acquire looks here (Knows), and the closure showed in a seq pair's allocations.
        foreach (var f in finished)
        {
            if (f.SessionId == sessionId && f.RequestId == requestId)
            {
                return f;
            }
        }

        return null;
    }

    /// <summary>Remembers <paramref name="f"/>, forgetting the oldest past <see cref="Max"/> that no cover pins (<see cref="SessionCovers.Pins"/>).</summary>
    public FinishedLog Add(FinishedRequest f, ImmutableList<SessionCover>? covers = null)
    {
        var finished = Finished.Add(f);
        var forgotten = ForgottenBelow;
        if (finished.Count > Max)
        {
            var oldest = covers is null || covers.IsEmpty ? 0 : Math.Max(0, finished.FindIndex(x => !SessionCovers.Pins(covers, x)));
            forgotten = Math.Max(forgotten, finished[oldest].Token);
            finished = finished.RemoveAt(oldest);
        }

        return new(finished, forgotten);
    }

    /// <summary>The session of a finished request has let it go: forget it.</summary>
    public FinishedLog LetGo(string sessionId, Guid requestId) =>
        Find(sessionId, requestId) is { } f ? new(Finished.Remove(f), Math.Max(ForgottenBelow, f.Token)) : this;

    /// <summary>The session ended and let go of everything: forget its requests.</summary>
    public FinishedLog WithoutSession(string sessionId) =>
        new(
            Finished.RemoveAll(f => f.SessionId == sessionId),
            Math.Max(ForgottenBelow, Finished.Where(f => f.SessionId == sessionId).Select(f => f.Token).DefaultIfEmpty(0).Max()));

    /// <summary>
    /// A release of (session, request) with <paramref name="token"/> that holds nothing here: a harmless repeat
    /// if the request finished with that token (or so long ago it was forgotten); refused otherwise.
    /// </summary>
    public ReleaseOutcome ReleaseOfNoGrant(string lockName, string sessionId, Guid requestId, long token, bool queued)
    {
        var finished = Find(sessionId, requestId);
        if (finished is not null && finished.Token == token)
        {
            return ReleaseOutcome.AlreadyReleased;
        }

        if (queued)
        {
            throw new LockNotHeldException(lockName, $"request {requestId} is still queued, not granted (cancel it instead)");
        }

        if (finished is null && token > 0 && token <= ForgottenBelow)
        {
            // A grant this old has finished and its record was forgotten: repeating its release changes nothing.
            return ReleaseOutcome.AlreadyReleased;
        }

        throw new LockNotHeldException(lockName, finished is null
            ? $"request {requestId} of this session does not hold it"
            : $"request {requestId} ended ({finished.End}) with token {finished.Token}, not {token}");
    }
}
