namespace Coordination;

/// <summary>Base type of every error the Coordination service raises on purpose.</summary>
[GenerateSerializer]
public class CoordinationException : Exception
{
    public CoordinationException() : base("Coordination operation failed.") { }

    public CoordinationException(string message) : base(message) { }

    public CoordinationException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>
    /// True when the same call, repeated later, may succeed: no majority of the replicas answered
    /// (<see cref="QuorumUnavailableException"/>) or the cluster did not answer at all
    /// (<see cref="ClusterUnavailableException"/>). Their outcome is unknown; the client library's idempotent calls
    /// were already retried within their budget. False for the service's final answers (bad input, expired session,
    /// not held, a full queue) and for <see cref="OutcomeUnknownException"/> (read before trying again). As
    /// <c>System.Data.Common.DbException.IsTransient</c>: one catch clause for every retryable error.
    /// </summary>
    public virtual bool IsTransient => false;
}

/// <summary>
/// Fewer than a majority of a key's replicas answered in time (or they kept answering with higher
/// ballots). The operation may or may not have taken effect: retry it with the same request id, which
/// is idempotent. A try-acquire throws this instead of reporting "not acquired".
/// </summary>
[GenerateSerializer]
public sealed class QuorumUnavailableException : CoordinationException
{
    public QuorumUnavailableException(string key, int answered, int needed, string detail)
        : base($"No majority of replicas for '{key}': {answered} of the {needed} needed answered ({detail}). The outcome is unknown; retry with the same request id.")
    {
        Key = key;
        Answered = answered;
        Needed = needed;
    }

    /// <summary>The register key that could not reach a majority.</summary>
    [Id(0)] public string Key { get; }

    /// <summary>How many distinct configured replicas accepted.</summary>
    [Id(1)] public int Answered { get; }

    /// <summary>How many were needed (a majority of the configuration).</summary>
    [Id(2)] public int Needed { get; }

    public override bool IsTransient => true;
}

/// <summary>
/// A majority of the replicas of this key's partition is gone (in-memory replicas die with their silo),
/// so its state cannot be recovered. The key stays unavailable, never silently empty, until an operator
/// re-initialises the partition (an audited act that bumps the cluster epoch, so fencing tokens stay ordered).
/// </summary>
[GenerateSerializer]
public sealed class ReplicasLostException : CoordinationException
{
    public ReplicasLostException(string key, int partition, string detail)
        : base($"The replicas of partition {partition} (key '{key}') lost their majority: {detail}. The key stays unavailable until an operator re-initialises the partition.")
    {
        Key = key;
        Partition = partition;
    }

    [Id(0)] public string Key { get; }

    [Id(1)] public int Partition { get; }
}

/// <summary>The session's lease ran out (or it was closed); everything it held has been or is being released.</summary>
[GenerateSerializer]
public sealed class SessionExpiredException : CoordinationException
{
    public SessionExpiredException(string sessionId, string detail)
        : base($"Session '{Abbreviate(sessionId)}' has ended ({detail}); open a new session.")
    {
        SessionId = sessionId;
    }

    [Id(0)] public string SessionId { get; }

    internal static string Abbreviate(string sessionId) => sessionId.Length <= 8 ? sessionId : sessionId[..8] + "…";
}

/// <summary>No session with this id exists (it was never opened here, or its state was re-initialised).</summary>
[GenerateSerializer]
public sealed class SessionNotFoundException : CoordinationException
{
    public SessionNotFoundException(string sessionId)
        : base($"No session '{SessionExpiredException.Abbreviate(sessionId)}' exists; it was never opened or its partition was re-initialised.")
    {
        SessionId = sessionId;
    }

    /// <summary>No session has the public tag an operator gave (<see cref="SessionIds.Tag"/>); <see cref="SessionId"/> is that tag.</summary>
    public static SessionNotFoundException ForTag(string tag) =>
        new(tag, $"No session has the tag '{tag}': it never existed, or it ended and was forgotten (coord sessions lists those the cluster keeps).");

    private SessionNotFoundException(string sessionId, string message)
        : base(message)
    {
        SessionId = sessionId;
    }

    [Id(0)] public string SessionId { get; }
}

/// <summary>A release (or other holder-only action) came from someone who does not hold the lock.</summary>
[GenerateSerializer]
public sealed class LockNotHeldException : CoordinationException
{
    public LockNotHeldException(string lockName, string detail)
        : base($"Lock '{lockName}' is not held by the caller: {detail}. Nothing was changed.")
    {
        LockName = lockName;
    }

    [Id(0)] public string LockName { get; }
}

/// <summary>A lock or election already has as many waiters as it keeps (every accept replicates the whole queue). Nothing was queued.</summary>
[GenerateSerializer]
public sealed class QueueFullException : CoordinationException
{
    public QueueFullException(string name, string limit)
        : base($"'{name}' cannot queue another waiter: {limit}. Nothing was queued; try again later.")
    {
        Name = name;
    }

    [Id(0)] public string Name { get; }
}

/// <summary>
/// A change may or may not have been applied (once, if at all), and the cluster can no longer tell which: its
/// first attempt may have been chosen and then built upon by more changes than are kept for retries. Not
/// retried, since a retry could apply it twice; read the state to find out.
/// </summary>
[GenerateSerializer]
public sealed class OutcomeUnknownException : CoordinationException
{
    public OutcomeUnknownException(string name, Guid requestId, string detail)
        : base($"The outcome of request {requestId} on '{name}' is unknown: {detail}. It was applied once or not at all; read '{name}' to find out, and do not retry it with the same request id.")
    {
        Name = name;
        RequestId = requestId;
    }

    [Id(0)] public string Name { get; }

    [Id(1)] public Guid RequestId { get; }
}

/// <summary>Bad input: the argument breaks a documented rule. Nothing was changed.</summary>
[GenerateSerializer]
public class CoordinationArgumentException : ArgumentException
{
    public CoordinationArgumentException(string argument, string rule)
        : base($"Invalid {argument}: {rule}. Nothing was changed.")
    {
        Argument = argument;
        Rule = rule;
    }

    /// <summary>The name of the offending argument or setting.</summary>
    [Id(0)] public string Argument { get; }

    /// <summary>The rule it broke, with the offending value where that is safe to show.</summary>
    [Id(1)] public string Rule { get; }
}

/// <summary>A lock, election or session name that is empty, too long or contains control characters.</summary>
[GenerateSerializer]
public sealed class InvalidNameException : CoordinationArgumentException
{
    public InvalidNameException(string argument, string rule) : base(argument, rule) { }
}

/// <summary>A session TTL outside the bounds the cluster allows.</summary>
[GenerateSerializer]
public sealed class InvalidTtlException : CoordinationArgumentException
{
    public InvalidTtlException(string argument, string rule) : base(argument, rule) { }
}

/// <summary>The request id belongs to a request that already finished (released, cancelled, revoked or ended with its session); use a new id.</summary>
[GenerateSerializer]
public sealed class RequestFinishedException : CoordinationException
{
    public RequestFinishedException(string lockName, Guid requestId, string outcome)
        : base($"Request {requestId} on lock '{lockName}' already finished ({outcome}); use a new request id. Nothing was changed.")
    {
        LockName = lockName;
        RequestId = requestId;
        Outcome = outcome;
    }

    [Id(0)] public string LockName { get; }

    [Id(1)] public Guid RequestId { get; }

    [Id(2)] public string Outcome { get; }
}

/// <summary>
/// The client got no reply from the cluster in time (silos failing over, unreachable, or overloaded). The
/// outcome is unknown; the client library has already withdrawn what it could. Retryable.
/// </summary>
[GenerateSerializer]
public sealed class ClusterUnavailableException : CoordinationException
{
    public ClusterUnavailableException(string operation, TimeSpan waited, Exception? inner = null)
        : base($"No reply from the cluster for {operation} within {waited.TotalSeconds:0.#} s; the outcome is unknown. Retry later.", inner ?? new TimeoutException())
    {
    }

    public override bool IsTransient => true;
}

/// <summary>
/// A session already holds or waits for as many requests as it keeps in one of its parts (requests spread
/// over the parts by the lock's name; a session keeps about a million in all). Nothing was queued; release
/// something, or spread the work over more sessions.
/// </summary>
[GenerateSerializer]
public sealed class SessionFullException : CoordinationException
{
    public SessionFullException(string sessionTag, string limit)
        : base($"Session {sessionTag} cannot hold or wait for another request: {limit}. Nothing was queued.")
    {
        SessionTag = sessionTag;
    }

    [Id(0)] public string SessionTag { get; }
}

/// <summary>
/// The client already has as many sessions open as it allows (<c>Coordination:Client:MaxOpenSessions</c>).
/// No session was opened; close one, or share one session among many locks (one session covers any number
/// of them with one keepalive).
/// </summary>
[GenerateSerializer]
public sealed class SessionLimitException : CoordinationException
{
    public SessionLimitException(int limit)
        : base($"This client already has {limit} sessions open, its limit (Coordination:Client:MaxOpenSessions). Close one, or share one session among many locks. No session was opened.")
    {
        Limit = limit;
    }

    [Id(0)] public int Limit { get; }
}

/// <summary>
/// A revoke was refused because the holder's session has not yet acknowledged the revocations it was told
/// of before (it acknowledges them at its next keepalive; a session that stops keeping alive expires, which
/// frees its grants anyway). No notice is ever dropped, so nothing was revoked; try again shortly.
/// </summary>
[GenerateSerializer]
public sealed class RevokeRefusedException : CoordinationException
{
    public RevokeRefusedException(string name, string detail)
        : base($"Revoke of '{name}' refused: {detail}. Nothing was revoked; try again after the holder's next keepalive.")
    {
        Name = name;
    }

    [Id(0)] public string Name { get; }
}

/// <summary>
/// A semaphore was used with another number of permits than the one it was created with (fixed at first use,
/// for as long as the semaphore is in use). Nothing was changed.
/// </summary>
[GenerateSerializer]
public sealed class SemaphoreCountMismatchException : CoordinationException
{
    public SemaphoreCountMismatchException(string name, int maxCount, int requested)
        : base($"Semaphore '{name}' has {maxCount} permits, not {requested}: every use of a semaphore must give the same count. Nothing was changed.")
    {
        Name = name;
        MaxCount = maxCount;
        Requested = requested;
    }

    [Id(0)] public string Name { get; }

    /// <summary>The permits the semaphore has.</summary>
    [Id(1)] public int MaxCount { get; }

    /// <summary>The permits the refused request asked for.</summary>
    [Id(2)] public int Requested { get; }
}
