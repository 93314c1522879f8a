using System.Diagnostics.Metrics;

namespace Coordination.Client;

/// <summary>
/// The client library's meter, <see cref="MeterName"/>: how long acquires and campaigns wait and how they end, the
/// grants a process holds and for how long, its sessions' keepalives and losses. One per client, made by the
/// process's <see cref="IMeterFactory"/> when there is one (so a test or a host sees its own), else a process-wide one.
/// Tags stay few and bounded (the primitive, the outcome, the reason): never a name or a session, which would make a
/// series per lock. Recording never changes what the client does: a listener that throws is ignored.
/// </summary>
internal sealed class ClientMetrics
{
    /// <summary>The meter's name: what <c>AddMeter</c> of an OpenTelemetry or <c>dotnet-counters</c> setup takes.</summary>
    public const string MeterName = CoordinationClient.MeterName;

    /// <summary>Made on first use only, so a process whose clients all come from a host's meter factory has no second meter of the name.</summary>
    private static readonly Lazy<ClientMetrics> ProcessWide = new(() => new ClientMetrics(null));

    private readonly Histogram<double> _acquireDuration;
    private readonly Counter<long> _retries;
    private readonly Histogram<double> _holdDuration;
    private readonly Counter<long> _sessionsLost;
    private readonly Histogram<double> _keepAliveDuration;
    private readonly Counter<long> _keepAliveFailures;
    private long _grantsActive;

    private ClientMetrics(IMeterFactory? factory)
    {
        Meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _acquireDuration = Meter.CreateHistogram<double>("coordination.client.acquire.duration", "ms", "How long an acquire (lock, semaphore permit, reader-writer lock) or a campaign took, from the call until the caller has its outcome.");
        _retries = Meter.CreateCounter<long>("coordination.client.acquire.retries", "{attempt}", "Attempts of an acquire or a campaign sent again because the one before failed for a transient reason or went unanswered.");
        Meter.CreateObservableUpDownCounter("coordination.client.grants.active", () => Volatile.Read(ref _grantsActive), "{grant}", "Grants (locks, permits, leaderships) this client was given and has not ended yet (released, resigned, or dropped and finalized); a lost grant counts until it is ended.");
        _holdDuration = Meter.CreateHistogram<double>("coordination.client.grant.duration", "ms", "How long a grant was held, from the grant to its end (a release, a resign, or the finalizer of a dropped handle).");
        _sessionsLost = Meter.CreateCounter<long>("coordination.client.sessions.lost", "{session}", "Sessions lost: their client deadline passed without an acknowledged keepalive, or the cluster said they had expired.");
        _keepAliveDuration = Meter.CreateHistogram<double>("coordination.client.keepalive.duration", "ms", "Round trips of acknowledged session keepalives.");
        _keepAliveFailures = Meter.CreateCounter<long>("coordination.client.keepalive.failures", "{keepalive}", "Keepalives that failed or went unanswered (each retried until the session's client deadline).");
    }

    /// <summary>For clients and sessions made without a meter factory: the process-wide meter.</summary>
    public static ClientMetrics Shared => ProcessWide.Value;

    /// <summary>The meter itself, for tests that collect from this client only.</summary>
    internal Meter Meter { get; }

    /// <summary>Grants given and not ended, as the health check reports them.</summary>
    public long GrantsActive => Volatile.Read(ref _grantsActive);

    /// <summary>A client's metrics: from <paramref name="factory"/>'s meter, or the process-wide ones without one.</summary>
    public static ClientMetrics For(IMeterFactory? factory) => factory is null ? Shared : new(factory);

    /// <summary>
    /// Runs one acquire or campaign (from the call: the session's open, its attempts, a withdrawal it waits for) and
    /// records its time and outcome: granted, not acquired (null), cancelled (by the caller's token), or failed.
    /// </summary>
    public async Task<T?> MeasureAsync<T>(string primitive, TimeProvider time, Func<Task<T?>> acquire, CancellationToken cancellationToken)
        where T : class
    {
        var started = time.GetTimestamp();
        var outcome = Tags.Failed;
        try
        {
            var result = await acquire();
            outcome = result is null ? Tags.NotAcquired : Tags.Granted;
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = Tags.Cancelled;
            throw;
        }
        finally
        {
            try
            {
                _acquireDuration.Record(time.GetElapsedTime(started).TotalMilliseconds, new(Tags.Primitive, primitive), new(Tags.Outcome, outcome));
            }
            catch (Exception)
            {
                // A listener's fault (see the class): the caller still gets its outcome.
            }
        }
    }

    public void RecordRetry(string primitive)
    {
        try
        {
            _retries.Add(1, new KeyValuePair<string, object?>(Tags.Primitive, primitive));
        }
        catch (Exception)
        {
            // A listener's fault: the retry goes out.
        }
    }

    public void GrantStarted() => Interlocked.Increment(ref _grantsActive);

    /// <summary>The grant's hold is recorded before it leaves the active count, so whoever sees the count drop finds its hold recorded.</summary>
    public void GrantEnded(string primitive, TimeSpan held)
    {
        try
        {
            _holdDuration.Record(held.TotalMilliseconds, new KeyValuePair<string, object?>(Tags.Primitive, primitive));
        }
        catch (Exception)
        {
            // A listener's fault: the release (or a finalizer's queued one) still goes out.
        }

        Interlocked.Decrement(ref _grantsActive);
    }

    public void RecordSessionLost(string reason)
    {
        try
        {
            _sessionsLost.Add(1, new KeyValuePair<string, object?>(Tags.Reason, reason));
        }
        catch (Exception)
        {
            // A listener's fault: the loss is still told to the application.
        }
    }

    public void RecordKeepAlive(TimeSpan roundTrip, bool acknowledged)
    {
        try
        {
            if (acknowledged)
            {
                _keepAliveDuration.Record(roundTrip.TotalMilliseconds);
            }
            else
            {
                _keepAliveFailures.Add(1);
            }
        }
        catch (Exception)
        {
            // A listener's fault: the keepalive loop goes on.
        }
    }

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
