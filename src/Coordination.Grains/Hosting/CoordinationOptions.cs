using Microsoft.Extensions.Options;

namespace Coordination.Grains.Hosting;

/// <summary>Session and lock rules of a silo. Bound from the configuration section <c>Coordination</c>.</summary>
public sealed class CoordinationOptions
{
    public const string Section = "Coordination";

    /// <summary>
    /// How long the cluster may take to notice a crashed silo and move its grains (failure detection plus
    /// reactivation). A session must outlive one such outage plus a keepalive interval. Default 5 s.
    /// </summary>
    public TimeSpan FailureDetectionTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Slack added on top of failure detection in the TTL lower bound. Default 1 s.</summary>
    public TimeSpan SafetyMargin { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The share of the TTL between client keepalives (the client library sends one every TTL × this). Default 1/3.</summary>
    public double KeepAliveFraction { get; set; } = 1.0 / 3;

    /// <summary>The longest session TTL accepted. Default 1 h.</summary>
    public TimeSpan MaxSessionTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest lock-delay a holder may ask for. Default 60 s.</summary>
    public TimeSpan MaxLockDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one acquire call may stay parked on the silo before it answers "still queued" (the client calls again). Default 15 s; below the 30 s call timeout.</summary>
    public TimeSpan MaxPark { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// While anyone waits for a held lock, how often the lock re-checks that its holder's session is alive
    /// (a safety net against grants that raced their session's end; see <see cref="Leases.SessionAttachments{TQueue}"/>). Default 5 s.
    /// </summary>
    public TimeSpan HolderAuditInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long an election with no leader and no candidate keeps its register (its revision history, for
    /// observers that come back) before it is deleted, when nobody is observing it. Default 60 s.
    /// </summary>
    public TimeSpan VacantElectionRetention { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a lock or election stays quiet (nothing held, waited for or delayed) before it retires: its
    /// register is deleted if nothing is left to remember, and its activation deactivates instead of staying for
    /// Orleans' collection age of many minutes. A lock in use keeps both between uses; a lock per entity keeps
    /// memory and replica slots only for what is held and what was used within this time. Default 5 s. A counter
    /// back at 0 and a deleted value keep theirs at least 30 s, so a client's retry of a change still finds it.
    /// </summary>
    public TimeSpan IdleRetention { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether a session that uses a lock, election, semaphore or reader-writer lock again makes a cover there, and
    /// its next requests ride on it, skipping the attach round (see <c>SessionCovers</c>). Default true. Set it false
    /// on every silo while a cluster still runs silos of a version without covers (they neither know the session's
    /// cover calls nor keep a cover in the values they write), and before going back to such a version: with it off,
    /// requests attach as before and existing covers retire as their locks go quiet.
    /// </summary>
    public bool CoveredAcquires { get; set; } = true;

    /// <summary>
    /// How long a released countdown latch (count zero) stays released after its last use, so late waiters still find
    /// it open; after that it is deleted and a next use starts a new count. Default 60 s; at least 30 s, the longest a
    /// count-down's retries run, so that a count-down applied again finds the latch it may have counted down.
    /// </summary>
    public TimeSpan ReleasedLatchRetention { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long an ended session's record is kept after everything it held was released, so its late callers
    /// hear "expired" or "closed" rather than "not found". Default 60 s.
    /// </summary>
    public TimeSpan EndedSessionRetention { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Whether this silo takes lock acquires and releases from clients on a TCP connection of the client library's own
    /// (the client lane: one hop and one thread wake-up each way, where an Orleans call from a client takes several), and
    /// invokes the lock grain for them as a gateway call would. A client finds the port by asking its gateway through
    /// Orleans, and goes through Orleans while it does not know it, or when the silo has none. Default true.
    /// </summary>
    public bool ClientLane { get; set; } = true;

    /// <summary>
    /// The TCP port of the client lane, on the gateway's address (Orleans' <c>GatewayListeningEndpoint</c> address when
    /// set, else the silo's). Default 0: any free port. Set one when a firewall lies between clients and silos; if the
    /// silo cannot listen, its clients go through Orleans.
    /// </summary>
    public int ClientLanePort { get; set; }

    /// <summary>
    /// The shortest TTL accepted: (failure detection + margin) / (1 − keepalive fraction), so that the last
    /// acknowledged keepalive plus one keepalive interval plus a silo failover still fit in the lease.
    /// </summary>
    public TimeSpan MinimumSessionTtl => (FailureDetectionTime + SafetyMargin) / (1 - KeepAliveFraction);

    /// <summary>Throws <see cref="InvalidTtlException"/> unless <paramref name="ttl"/> is within the bounds.</summary>
    public TimeSpan ValidateTtl(TimeSpan ttl, string argument = "ttl")
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new InvalidTtlException(argument, $"a TTL must be positive (got {ttl})");
        }

        if (ttl < MinimumSessionTtl)
        {
            throw new InvalidTtlException(argument, $"a TTL must be at least {MinimumSessionTtl.TotalSeconds:0.###} s = (failure detection {FailureDetectionTime.TotalSeconds:0.###} s + margin {SafetyMargin.TotalSeconds:0.###} s) / (1 − keepalive fraction {KeepAliveFraction:0.###}) (got {ttl.TotalSeconds:0.###} s)");
        }

        if (ttl > MaxSessionTtl)
        {
            throw new InvalidTtlException(argument, $"a TTL must be at most {MaxSessionTtl} (got {ttl})");
        }

        return ttl;
    }
}

/// <summary>Checks <see cref="CoordinationOptions"/> at start, naming the setting, its value and the rule.</summary>
internal sealed class CoordinationOptionsValidator : IValidateOptions<CoordinationOptions>
{
    public ValidateOptionsResult Validate(string? name, CoordinationOptions o)
    {
        var s = CoordinationOptions.Section;
        var failures = new List<string>();
        if (o.FailureDetectionTime <= TimeSpan.Zero)
        {
            failures.Add($"{s}:FailureDetectionTime is {o.FailureDetectionTime}: it must be positive.");
        }

        if (o.SafetyMargin < TimeSpan.Zero)
        {
            failures.Add($"{s}:SafetyMargin is {o.SafetyMargin}: it must not be negative.");
        }

        if (o.KeepAliveFraction is <= 0 or >= 1 || double.IsNaN(o.KeepAliveFraction))
        {
            failures.Add($"{s}:KeepAliveFraction is {o.KeepAliveFraction}: it must be between 0 and 1 (exclusive).");
        }
        else if (o.MaxSessionTtl < o.MinimumSessionTtl)
        {
            failures.Add($"{s}:MaxSessionTtl is {o.MaxSessionTtl}: it must be at least the minimum TTL {o.MinimumSessionTtl} implied by FailureDetectionTime, SafetyMargin and KeepAliveFraction.");
        }

        if (o.MaxLockDelay < TimeSpan.Zero)
        {
            failures.Add($"{s}:MaxLockDelay is {o.MaxLockDelay}: it must not be negative.");
        }

        if (o.VacantElectionRetention <= TimeSpan.Zero || o.EndedSessionRetention < TimeSpan.Zero)
        {
            failures.Add($"{s}:VacantElectionRetention ({o.VacantElectionRetention}) must be positive and EndedSessionRetention ({o.EndedSessionRetention}) must not be negative.");
        }

        if (o.IdleRetention < TimeSpan.FromMilliseconds(100) || o.IdleRetention > TimeSpan.FromHours(1))
        {
            failures.Add($"{s}:IdleRetention is {o.IdleRetention}: it must be between 100 ms and 1 h.");
        }

        // A count-down retried (by its call, or by its client: both within IdleRetirement.RetrySpan) must still find the
        // latch it may have counted down: a latch deleted and begun again starts from a count that knows nothing of it.
        if (o.ReleasedLatchRetention < Leases.IdleRetirement.RetrySpan || o.ReleasedLatchRetention > TimeSpan.FromDays(1))
        {
            failures.Add($"{s}:ReleasedLatchRetention is {o.ReleasedLatchRetention}: it must be between 30 s (the longest a count-down's retries run) and 1 day.");
        }

        if (o.HolderAuditInterval <= TimeSpan.Zero)
        {
            failures.Add($"{s}:HolderAuditInterval is {o.HolderAuditInterval}: it must be positive.");
        }

        if (o.MaxPark <= TimeSpan.Zero || o.MaxPark >= TimeSpan.FromSeconds(30))
        {
            failures.Add($"{s}:MaxPark is {o.MaxPark}: it must be positive and below the 30 s grain call timeout.");
        }

        if (o.ClientLanePort is < 0 or > 65535)
        {
            failures.Add($"{s}:ClientLanePort is {o.ClientLanePort}: it must be a TCP port (1 to 65535), or 0 for any free one.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
