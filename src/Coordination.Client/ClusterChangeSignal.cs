namespace Coordination.Client;

/// <summary>
/// Tells parked calls that the cluster changed under them: the client lost a gateway (a silo crashed, hung, or
/// left). A call parked at a grain on that silo would otherwise wait out its whole park for a reply that never
/// comes (a gateway does not answer for a silo that died after it forwarded the call). So a parked acquire or
/// campaign re-issues at once when a gateway goes, and for a while after a change (<see cref="Window"/>, while
/// the silos are still declaring the death and moving the grain) asks without parking and gives each call only
/// a short time; requests are idempotent by request id, so asking again is always safe.
/// </summary>
internal sealed class ClusterChangeSignal(TimeProvider time)
{
    /// <summary>How long after a change calls stay short: longer than Orleans' own detection with its Fast settings, and than ours.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private CancellationTokenSource _changed = new();
    private long _lastChange = long.MinValue;

    /// <summary>Cancelled at the next change after it was read.</summary>
    public CancellationToken Token => Volatile.Read(ref _changed).Token;

    /// <summary>True within <see cref="Window"/> of the last change.</summary>
    public bool Recent
    {
        get
        {
            var last = Interlocked.Read(ref _lastChange);
            return last != long.MinValue && time.GetElapsedTime(last) < Window;
        }
    }

    /// <summary>How long a waiting call may park now: not at all shortly after a change (the grain may still sit on a silo that will not answer), else <paramref name="maxPark"/>.</summary>
    public TimeSpan Park(TimeSpan maxPark) => Recent ? TimeSpan.Zero : maxPark;

    /// <summary>
    /// Awaits a parked call for at most <paramref name="limit"/>. Null when the client lost a gateway after
    /// <paramref name="changed"/> was read (read it before deciding the park and sending the call): the call may
    /// sit on the silo that went, so the caller asks again at once (same request id).
    /// </summary>
    public async Task<T?> UnlessChangedAsync<T>(CancellationToken changed, Task<T> call, TimeSpan limit, CancellationToken cancellationToken)
        where T : class
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, changed);
        try
        {
            return await call.WaitAsync(limit, time, wait.Token);
        }
        catch (OperationCanceledException) when (changed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public void OnGatewayCountChanged(object? sender, GatewayCountChangedEventArgs e)
    {
        if (e.NumberOfConnectedGateways < e.PreviousNumberOfConnectedGateways)
        {
            Signal();
        }
    }

    /// <summary>Wakes everything waiting on the current token; later readers get a fresh one. The old source is left to the collector, as linked sources may still hold it.</summary>
    public void Signal()
    {
        Interlocked.Exchange(ref _lastChange, time.GetTimestamp());
        Interlocked.Exchange(ref _changed, new CancellationTokenSource()).Cancel();
    }
}
