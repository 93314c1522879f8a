namespace Coordination.Client;

/// <summary>
/// A named 64-bit counter (Hazelcast's IAtomicLong, Curator's DistributedAtomicLong): get, add, compare-and-set,
/// each one linearizable (every reply follows a majority accept). A counter never set reads 0. Retries through
/// failovers reuse the operation's request id, so an add whose reply was lost is not applied twice: when the counter
/// no longer remembers the changes since the latest revision this handle saw before the add, the retry fails with
/// <see cref="OutcomeUnknownException"/> (read to find out) instead.
/// </summary>
public sealed class CoordinationAtomicLong
{
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly SeenRevision _seen;

    internal CoordinationAtomicLong(string name, IGrainFactory grains, CoordinationClientOptions options, TimeProvider time, SeenRevisions seen)
    {
        _seen = seen.For('c', name);
        Name = name;
        _grains = grains;
        _options = options;
        _time = time;
    }

    public string Name { get; }

    private IAtomicLongGrain Grain => _grains.Reference<IAtomicLongGrain>(Name);

    public async Task<long> GetAsync(CancellationToken cancellationToken = default) =>
        _seen.Noted(await Retry.UntilAsync(() => Grain.Get(), _options, _time, cancellationToken), RevisionOf).Value;

    /// <summary>Adds <paramref name="delta"/> and returns the new value; an overflow is refused (<see cref="CoordinationArgumentException"/>) and changes nothing.</summary>
    public async Task<long> AddAsync(long delta, CancellationToken cancellationToken = default)
    {
        var requestId = Guid.NewGuid();
        return (await _seen.ChangeAsync(since => Grain.Add(requestId, delta, since), RevisionOf, _options, _time, cancellationToken)).Value;
    }

    /// <summary>Sets <paramref name="value"/> if the counter is <paramref name="expected"/>; true if it did.</summary>
    public async Task<bool> CompareAndSetAsync(long expected, long value, CancellationToken cancellationToken = default)
    {
        var requestId = Guid.NewGuid();
        return (await _seen.ChangeAsync(since => Grain.CompareAndSet(requestId, expected, value, since), RevisionOf, _options, _time, cancellationToken)).Succeeded;
    }

    private static long RevisionOf(AtomicLongResult result) => result.Revision;
}
