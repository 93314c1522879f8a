using Microsoft.Extensions.Options;

namespace Coordination.Client;

/// <summary>How the client keeps sessions and waits for locks. Bound from the configuration section <c>Coordination:Client</c>.</summary>
public sealed class CoordinationClientOptions
{
    public const string Section = "Coordination:Client";

    /// <summary>The TTL of sessions opened without one (the cluster enforces its own bounds). Default 15 s.</summary>
    public TimeSpan SessionTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// ρ, the bound on how much slower this machine's clock may run than real time (and the silos'): the
    /// client's deadline is the send time of its last acknowledged keepalive + TTL·(1−ρ) − <see cref="DeadlineMargin"/>. Default 0.01.
    /// </summary>
    public double ClockDriftBound { get; set; } = 0.01;

    /// <summary>Subtracted from the client's deadline on top of the drift allowance. Default 500 ms.</summary>
    public TimeSpan DeadlineMargin { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Keepalives go out every TTL × this (the cluster's minimum TTL assumes 1/3). Default 1/3.</summary>
    public double KeepAliveFraction { get; set; } = 1.0 / 3;

    /// <summary>How long one acquire call may stay parked on a silo before the client calls again with the same request id. Default 5 s.</summary>
    public TimeSpan MaxPark { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long past its park time a call may take before the client gives up on it (its silo may have died) and calls again. Default 2 s.</summary>
    public TimeSpan CallGrace { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Pause between retries of an operation that failed for a retryable reason (failover, no majority). Default 100 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long one call may take before the client abandons it and retries (idempotently). A call in flight
    /// to a silo that crashes is otherwise answered only by Orleans' 30 s response timeout. Default 5 s.
    /// </summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether a lock's acquires and releases go to the gateway silo on a TCP connection of the client's own (the
    /// client lane), where the silo has one, instead of as Orleans calls: fewer thread hand-offs at both ends. The
    /// requests are the same, and a call the lane cannot take goes through Orleans. With <c>UseClusterTls</c> the lane
    /// uses the same certificates; a client without it does not use a silo's TLS lane, nor the reverse. Needs
    /// <c>AddCoordinationClient</c> in a process that is not a silo.
    /// Default true.
    /// </summary>
    public bool ClientLane { get; set; } = true;

    /// <summary>How long idempotent operations (open, release, cancel, close, queries) keep retrying through failovers before giving up (the session's expiry releases everything anyway). Default 10 s.</summary>
    public TimeSpan CleanupTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many sessions this client may have open at once; one more is refused with
    /// <see cref="SessionLimitException"/>. A closed or lost session no longer counts. Default 1,024.
    /// </summary>
    public int MaxOpenSessions { get; set; } = 1024;

    /// <summary>
    /// Lock-delay (Chubby's, Consul's <c>LockDelay</c>) of every lock, semaphore permit and reader-writer grant this
    /// client takes: when the holder's session ends without a release (expired, its client gone) or the grant is
    /// revoked, the cluster grants it to nobody for this long after the session's end (restarted in full after a
    /// failover), so that work the old holder still does without fencing has time to stop. At most the cluster's
    /// <c>MaxLockDelay</c> (60 s by default; more is refused at each acquire). Default zero.
    /// </summary>
    public TimeSpan LockDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Shown to holder queries as the owner of this client's locks. Default host name and process id.</summary>
    public string Owner { get; set; } = $"{Environment.MachineName} pid {Environment.ProcessId}";
}

/// <summary>Checks <see cref="CoordinationClientOptions"/> at start, naming the setting, its value and the rule.</summary>
internal sealed class CoordinationClientOptionsValidator : IValidateOptions<CoordinationClientOptions>
{
    public ValidateOptionsResult Validate(string? name, CoordinationClientOptions o)
    {
        var s = CoordinationClientOptions.Section;
        var failures = new List<string>();
        if (o.SessionTtl <= TimeSpan.Zero)
        {
            failures.Add($"{s}:SessionTtl is {o.SessionTtl}: it must be positive.");
        }

        if (o.ClockDriftBound is < 0 or >= 0.5 || double.IsNaN(o.ClockDriftBound))
        {
            failures.Add($"{s}:ClockDriftBound is {o.ClockDriftBound}: it must be at least 0 and below 0.5.");
        }

        if (o.DeadlineMargin < TimeSpan.Zero)
        {
            failures.Add($"{s}:DeadlineMargin is {o.DeadlineMargin}: it must not be negative.");
        }

        if (o.KeepAliveFraction is <= 0 or >= 1 || double.IsNaN(o.KeepAliveFraction))
        {
            failures.Add($"{s}:KeepAliveFraction is {o.KeepAliveFraction}: it must be between 0 and 1 (exclusive).");
        }

        if (o.SessionTtl > TimeSpan.Zero && o.SessionTtl * (1 - o.ClockDriftBound) - o.DeadlineMargin <= o.SessionTtl * o.KeepAliveFraction)
        {
            failures.Add($"{s}:SessionTtl is {o.SessionTtl}: after the drift allowance and DeadlineMargin ({o.DeadlineMargin}) the client deadline must exceed one keepalive interval.");
        }

        if (o.MaxPark <= TimeSpan.Zero || o.MaxPark + o.CallGrace >= TimeSpan.FromSeconds(30))
        {
            failures.Add($"{s}:MaxPark is {o.MaxPark}: it must be positive, and MaxPark + CallGrace ({o.CallGrace}) below the 30 s call timeout.");
        }

        if (o.CallGrace <= TimeSpan.Zero || o.RetryDelay <= TimeSpan.Zero || o.CleanupTimeout <= TimeSpan.Zero || o.CallTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{s}:CallGrace ({o.CallGrace}), CallTimeout ({o.CallTimeout}), RetryDelay ({o.RetryDelay}) and CleanupTimeout ({o.CleanupTimeout}) must be positive.");
        }

        // The cluster keeps what a retried change must find (a counter back at 0, a deleted value, a released latch)
        // for 30 s after its last change; a retry arriving later could apply the change a second time.
        if (o.CleanupTimeout + o.CallTimeout + o.RetryDelay >= TimeSpan.FromSeconds(30))
        {
            failures.Add($"{s}:CleanupTimeout ({o.CleanupTimeout}) + CallTimeout ({o.CallTimeout}) + RetryDelay ({o.RetryDelay}) must be below 30 s: the last retry of a change must reach the cluster while it still remembers the change.");
        }

        if (o.LockDelay < TimeSpan.Zero)
        {
            failures.Add($"{s}:LockDelay is {o.LockDelay}: it must not be negative.");
        }

        if (o.MaxOpenSessions is < 1 or > 1_000_000)
        {
            failures.Add($"{s}:MaxOpenSessions ({o.MaxOpenSessions}) must be between 1 and 1,000,000.");
        }

        if (o.Owner is not null && Names.Check(o.Owner) is { } problem)
        {
            failures.Add($"{s}:Owner is not valid: {problem.Replace("a name", "the owner", StringComparison.Ordinal)}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
