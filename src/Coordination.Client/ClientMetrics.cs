using System.Diagnostics.Metrics;

namespace Coordination.Client;

/// <summary>
/// The client library's meter, <see cref="MeterName"/>: how long acquires and campaigns wait and how they end, the
/// grants a process holds and for how long, its sessions' keepalives and losses. One per client, made by the
/// process's <see cref="IMeterFactory"/> when there is one (so a test or a host sees its own), else a process-wide one.
/// Tags stay few and bounded (the primitive, the outcome, the reason): never a name or a session, which would make a
/// series per lock.
/// </summary>
internal sealed class ClientMetrics
{
    /// <summary>The meter's name: what <c>AddMeter</c> of an OpenTelemetry or <c>dotnet-counters</c> setup takes.</summary>
    public const string MeterName = CoordinationClient.MeterName;

    /// <summary>For sessions made without a client's meter (tests of the client's parts): a process-wide one.</summary>
    public static readonly ClientMetrics Shared = new(null);

    private long _grantsActive;

    private ClientMetrics(IMeterFactory? factory)
    {
        Meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        AcquireDuration = Meter.CreateHistogram<double>("coordination.client.acquire.duration", "ms", "How long an acquire (lock, semaphore permit, reader-writer lock) or a campaign waited, from the call to its outcome.");
        Retries = Meter.CreateCounter<long>("coordination.client.acquire.retries", "{attempt}", "Attempts of an acquire or a campaign sent again after a transient failure (no reply, no majority, a failover).");
        Meter.CreateObservableUpDownCounter("coordination.client.grants.active", () => Volatile.Read(ref _grantsActive), "{grant}", "Grants (locks, permits, leaderships) this client was given and has not ended yet (released, resigned, or dropped and finalized); a lost grant counts until it is ended.");
        HoldDuration = Meter.CreateHistogram<double>("coordination.client.grant.duration", "ms", "How long a grant was held, from the grant to its end (a release, a resign, or the finalizer of a dropped handle).");
        SessionsLost = Meter.CreateCounter<long>("coordination.client.sessions.lost", "{session}", "Sessions lost: their client deadline passed without an acknowledged keepalive, or the cluster said they had expired.");
        KeepAliveDuration = Meter.CreateHistogram<double>("coordination.client.keepalive.duration", "ms", "Round trips of acknowledged session keepalives.");
        KeepAliveFailures = Meter.CreateCounter<long>("coordination.client.keepalive.failures", "{keepalive}", "Keepalives that failed or went unanswered (each retried until the session's client deadline).");
    }

    /// <summary>A client's metrics: from <paramref name="factory"/>'s meter, or the process-wide ones without one.</summary>
    public static ClientMetrics For(IMeterFactory? factory) => factory is null ? Shared : new(factory);

    /// <summary>The meter itself, for tests that collect from this client only.</summary>
    internal Meter Meter { get; }

    internal Histogram<double> AcquireDuration { get; }

    internal Counter<long> Retries { get; }

    internal Histogram<double> HoldDuration { get; }

    internal Counter<long> SessionsLost { get; }

    internal Histogram<double> KeepAliveDuration { get; }

    internal Counter<long> KeepAliveFailures { get; }

    /// <summary>Grants given and not ended, as the health check reports them.</summary>
    public long GrantsActive => Volatile.Read(ref _grantsActive);

    public void RecordAcquire(string primitive, string outcome, TimeSpan waited) =>
        AcquireDuration.Record(waited.TotalMilliseconds, new(Tags.Primitive, primitive), new(Tags.Outcome, outcome));

    public void RecordRetry(string primitive) => Retries.Add(1, new KeyValuePair<string, object?>(Tags.Primitive, primitive));

    public void GrantStarted() => Interlocked.Increment(ref _grantsActive);

    public void GrantEnded(string primitive, TimeSpan held)
    {
        Interlocked.Decrement(ref _grantsActive);
        HoldDuration.Record(held.TotalMilliseconds, new KeyValuePair<string, object?>(Tags.Primitive, primitive));
    }

    public void RecordSessionLost(string reason) => SessionsLost.Add(1, new KeyValuePair<string, object?>(Tags.Reason, reason));

    /// <summary>The tag names and values this meter uses.</summary>
    internal static class Tags
    {
        public const string Primitive = "coordination.primitive";
        public const string Outcome = "coordination.outcome";
        public const string Reason = "coordination.reason";

        public const string Lock = "lock";
        public const string Semaphore = "semaphore";
        public const string ReaderWriterLock = "reader_writer_lock";
        public const string Election = "election";

        public const string Granted = "granted";
        public const string NotAcquired = "not_acquired";
        public const string Cancelled = "cancelled";
        public const string Failed = "failed";

        /// <summary>A session lost at its client deadline (keepalives unanswered).</summary>
        public const string Deadline = "deadline";

        /// <summary>A session the cluster said had expired or did not know.</summary>
        public const string Expired = "expired";
    }
}
