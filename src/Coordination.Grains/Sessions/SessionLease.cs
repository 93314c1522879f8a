using System.Collections.Immutable;
using Coordination.Grains.Hosting;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Sessions;

/// <summary>
/// The lease of one session activation, apart from its timer. It runs a full TTL on this activation's
/// monotonic clock from each newly observed keepalive count (the first read after a failover included), so
/// it can end late but never early; expiry is a compare-and-set on the count observed, so an activation that
/// missed keepalives committed through another one cannot expire the session.
/// </summary>
internal sealed class SessionLease(TimeProvider time)
{
    private long _deadline;

    /// <summary>The keepalive count the lease runs from; −1 before the first committed value.</summary>
    public long ObservedKeepAlives { get; private set; } = -1;

    /// <summary>How long until the lease may end (zero or less: it may end now).</summary>
    public TimeSpan Remaining => time.GetElapsedTime(time.GetTimestamp(), _deadline);

    /// <summary>After a committed value: restarts the lease if the value shows a keepalive count not seen yet, returning its length; otherwise null.</summary>
    public TimeSpan? Observe(SessionRecord record)
    {
        if (!record.IsAlive || record.KeepAlives == ObservedKeepAlives)
        {
            return null;
        }

        ObservedKeepAlives = record.KeepAlives;
        _deadline = time.GetTimestamp() + (long)(record.Ttl.TotalSeconds * time.TimestampFrequency);
        return record.Ttl;
    }

    /// <summary>The change that ends the session, but only if no keepalive was committed since the lease started.</summary>
    public RegisterChange<SessionRecord, bool> Expire()
    {
        var observed = ObservedKeepAlives;
        return (s, _) => SessionStateMachine.Expire(s, observed);
    }
}

/// <summary>A lock's or election's state with what is left of its holder's session lease (operator listings show both).</summary>
[GenerateSerializer, Immutable, Alias("coord.WithLease`1")]
internal sealed record WithLease<T>(T Value, TimeSpan? LeaseRemaining);

/// <summary>Asks a holder's session how long its lease runs; a page of a listing shows it, and must not fail for it.</summary>
internal static class HolderLease
{
    /// <summary>
    /// Adds a holder's lease under its request id. Request ids are made by clients, so two holders (of two sessions, or of
    /// two names on one page) may share one: the shorter lease stands, since a listed lease runs at least that long.
    /// </summary>
    public static void AddShortest(ImmutableDictionary<Guid, TimeSpan>.Builder leases, Guid requestId, TimeSpan remaining) =>
        leases[requestId] = leases.TryGetValue(requestId, out var known) && known < remaining ? known : remaining;

    public static async Task<TimeSpan?> RemainingAsync(IGrainFactory grains, string? sessionId)
    {
        if (sessionId is null)
        {
            return null;
        }

        try
        {
            return await grains.Reference<ISessionGrainInternal>(sessionId).LeaseRemaining();
        }
        catch (Exception ex) when (ex is CoordinationException or OrleansException or TimeoutException)
        {
            return null;
        }
    }
}

/// <summary>A semaphore's or reader-writer lock's state with what is left of each holder's session lease, by the holder's request id.</summary>
[GenerateSerializer, Immutable, Alias("coord.WithLeases`1")]
internal sealed record WithLeases<T>(T Value, ImmutableDictionary<Guid, TimeSpan> LeaseRemaining);
