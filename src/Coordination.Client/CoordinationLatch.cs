namespace Coordination.Client;

/// <summary>
/// A countdown latch (Java's CountDownLatch across processes; Curator's and Hazelcast's): each participant counts
/// down, and waiters are released together when the count reaches zero. Waits are parked on the silo, never
/// polled, and re-issued after a failover. Every user of a latch names the same initial count: another count is a
/// typed error (<see cref="LatchMisuseException"/>), as is a count-down below zero. A released latch stays released
/// while it is used, and for the silo's <c>ReleasedLatchRetention</c> after its last use; then its name starts anew.
/// </summary>
public sealed class CoordinationLatch
{
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ClusterChangeSignal _changes;
    private readonly SeenRevision _seen;

    internal CoordinationLatch(string name, int initialCount, IGrainFactory grains, CoordinationClientOptions options, TimeProvider time, ClusterChangeSignal changes, SeenRevisions seen)
    {
        _seen = seen.For('l', name);
        Name = name;
        InitialCount = initialCount;
        _grains = grains;
        _options = options;
        _time = time;
        _changes = changes;
    }

    public string Name { get; }

    public int InitialCount { get; }

    private ILatchGrain Grain => _grains.Reference<ILatchGrain>(Name);

    /// <summary>
    /// Counts down once (a retry through a failover counts once, or fails with <see cref="OutcomeUnknownException"/>
    /// when the latch no longer remembers the count-downs since this handle last saw it); returns the latch after it.
    /// </summary>
    public async Task<LatchState> CountDownAsync(CancellationToken cancellationToken = default)
    {
        var requestId = Guid.NewGuid();
        return await _seen.ChangeAsync(since => Grain.CountDown(requestId, InitialCount, since), RevisionOf, _options, _time, cancellationToken);
    }

    /// <summary>The count now, read through a majority.</summary>
    public async Task<LatchState> GetStateAsync(CancellationToken cancellationToken = default) =>
        _seen.Noted(await Retry.UntilAsync(() => Grain.Wait(InitialCount, TimeSpan.Zero), _options, _time, cancellationToken), RevisionOf);

    /// <summary>How many count-downs the latch had: a latch's revision.</summary>
    private static long RevisionOf(LatchState state) => state.InitialCount - state.Count;

    /// <summary>
    /// Waits until the count is zero: true then, false when <paramref name="timeout"/> passes first (zero: only looks).
    /// A timeout out of range throws <see cref="ArgumentOutOfRangeException"/> here, not in the returned task.
    /// </summary>
    public Task<bool> TryWaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitCoreAsync(Timeouts.Validate(timeout), cancellationToken);

    /// <summary>Waits until the count is zero, up to <paramref name="timeout"/> (null: forever); <see cref="TimeoutException"/> if it is not by then.</summary>
    public Task WaitAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        OrTimeoutAsync(WaitCoreAsync(Timeouts.Validate(timeout ?? Timeout.InfiniteTimeSpan), cancellationToken), timeout);

    private async Task OrTimeoutAsync(Task<bool> wait, TimeSpan? timeout)
    {
        if (!await wait)
        {
            throw new TimeoutException($"Latch '{Name}' did not reach zero within {timeout}.");
        }
    }

    private async Task<bool> WaitCoreAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout == TimeSpan.Zero)
        {
            return (await GetStateAsync(cancellationToken)).IsReleased;
        }

        var deadline = Deadline.FromNow(timeout, _time);
        while (true)
        {
            var state = await ParkedReads.CallAsync($"wait for latch '{Name}'", park => Grain.Wait(InitialCount, park), _changes, deadline, _options, _time, cancellationToken);
            if (state is null)
            {
                return false;
            }

            if (state.IsReleased)
            {
                return true;
            }
        }
    }
}
