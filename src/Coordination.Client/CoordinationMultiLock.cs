using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// A set of exclusive locks taken all or nothing, with one timeout for the whole set, through one session
/// (Curator's <c>InterProcessMultiLock</c>). The members are taken one by one in one canonical order, the distinct
/// names sorted by ordinal comparison, whatever order the caller gave: every multi-lock of this client library
/// takes overlapping sets in the same order, so two of them never wait for each other in a cycle (Havender's
/// resource ordering). On a timeout, a cancellation or an error, every member already taken is released before the
/// call returns. Implements DistributedLock.Core's <see cref="IDistributedLock"/>, so it can stand in for one lock.
/// </summary>
/// <remarks>
/// A name given twice is taken once (a set). The set holds 1 to <see cref="MaxLocks"/> distinct valid names;
/// anything else is refused by <see cref="ICoordinationClient.CreateMultiLock"/> before anything is sent. Ordering
/// prevents deadlock only among acquires that follow it: code that holds a lock and then takes a multi-lock, or
/// takes single locks in its own order, can still wait in a cycle (until its timeout).
/// </remarks>
public sealed class CoordinationMultiLock : IDistributedLock
{
    /// <summary>The most distinct names in one set (each member is one acquire, taken in turn).</summary>
    public const int MaxLocks = 64;

    private readonly Func<CancellationToken, ValueTask<CoordinationSession>> _session;
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ClientMetrics? _metrics;

    /// <param name="metrics">The client's meter: each member is measured as a lock of its own.</param>
    internal CoordinationMultiLock(IReadOnlyList<string> names, Func<CancellationToken, ValueTask<CoordinationSession>> session, IGrainFactory grains, CoordinationClientOptions options, TimeProvider time, ClientMetrics? metrics = null)
    {
        _metrics = metrics;
        Names = names;
        _session = session;
        _grains = grains;
        _options = options;
        _time = time;
    }

    /// <summary>The distinct names, in the order they are taken (ordinal).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The names joined by commas, for logs (a multi-lock has no name of its own).</summary>
    public string Name => string.Join(",", Names);

    /// <summary>
    /// Takes every lock of the set if all can be had within <paramref name="timeout"/> (zero: only those free now);
    /// null otherwise, with none of them held. A timeout out of range throws <see cref="ArgumentOutOfRangeException"/> here.
    /// </summary>
    public ValueTask<CoordinationMultiLockHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        new(AcquireCoreAsync(Timeouts.Validate(timeout), cancellationToken));

    /// <summary>
    /// Takes every lock of the set, waiting up to <paramref name="timeout"/> for all of them (null: forever); throws
    /// <see cref="TimeoutException"/>, with none of them held, if it does not get them all.
    /// </summary>
    public ValueTask<CoordinationMultiLockHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        new(LeaseAcquire.OrThrowAsync(AcquireCoreAsync(Timeouts.Validate(timeout ?? Timeout.InfiniteTimeSpan), cancellationToken), $"The lock set {{{Name}}}", timeout ?? Timeout.InfiniteTimeSpan));

    public CoordinationMultiLockHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => TryAcquireAsync(timeout, cancellationToken));

    public CoordinationMultiLockHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        Blocking.Wait(() => AcquireAsync(timeout, cancellationToken));

    IDistributedSynchronizationHandle? IDistributedLock.TryAcquire(TimeSpan timeout, CancellationToken cancellationToken) => TryAcquire(timeout, cancellationToken);

    IDistributedSynchronizationHandle IDistributedLock.Acquire(TimeSpan? timeout, CancellationToken cancellationToken) => Acquire(timeout, cancellationToken);

    ValueTask<IDistributedSynchronizationHandle?> IDistributedLock.TryAcquireAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Handles.UpcastOrNull(TryAcquireAsync(timeout, cancellationToken));

    ValueTask<IDistributedSynchronizationHandle> IDistributedLock.AcquireAsync(TimeSpan? timeout, CancellationToken cancellationToken) =>
        Handles.Upcast(AcquireAsync(timeout, cancellationToken));

    /// <summary>
    /// The canonical set: <paramref name="names"/> validated (each a valid name, 1 to <see cref="MaxLocks"/> distinct),
    /// duplicates dropped, sorted by ordinal comparison. Throws before anything is sent, so bad input changes nothing.
    /// </summary>
    internal static IReadOnlyList<string> Canonical(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var distinct = new SortedSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var name in names)
        {
            distinct.Add(Coordination.Names.Validate(name, $"names[{index++}]"));
            if (distinct.Count > MaxLocks)
            {
                throw new CoordinationArgumentException("names", $"a multi-lock takes at most {MaxLocks} distinct names");
            }
        }

        return distinct.Count == 0
            ? throw new CoordinationArgumentException("names", "a multi-lock needs at least one name")
            : [.. distinct];
    }

    /// <summary>
    /// The members in canonical order through one session, each with what is left of the one deadline (a member
    /// reached with no time left is still taken if free now, as a zero timeout asks). Any way out but the whole set
    /// releases what was taken, last first, before it returns.
    /// </summary>
    private async Task<CoordinationMultiLockHandle?> AcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var deadline = Deadline.FromNow(timeout, _time);
        var session = await ParkedCallLoop.SessionWithinAsync(_session, $"acquire of {Names.Count} locks", deadline, _options, _time, cancellationToken);
        while (true)
        {
            var held = new List<CoordinationLockHandle>(Names.Count);
            try
            {
                foreach (var name in Names)
                {
                    var member = new CoordinationLock(name, _ => ValueTask.FromResult(session), _grains, _options, _time, _metrics);
                    var left = deadline.IsInfinite ? Timeout.InfiniteTimeSpan : deadline.Remaining;
                    var handle = await member.TryAcquireAsync(left, cancellationToken);
                    if (handle is null)
                    {
                        await ReleaseTakenAsync(held);
                        return null;
                    }

                    held.Add(handle);
                }
            }
            catch
            {
                await ReleaseTakenAsync(held);
                throw;
            }

            if (!held.Any(h => h.IsLost))
            {
                return new CoordinationMultiLockHandle(held);
            }

            // A member taken earlier was lost (revoked) while the rest were awaited. Taking it again now, while holding
            // later members, would break the canonical order; so the whole set is given back and taken again from the
            // start, within what is left of the one deadline. A lost session fails the next member's acquire.
            await ReleaseTakenAsync(held);
            if (!deadline.IsInfinite && deadline.Remaining <= TimeSpan.Zero)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Gives back the members of a set that was not completed, all at once (through an outage, a member's release may
    /// take its cleanup budget; one after another they would add up). The caller hears why the set failed, not how a
    /// release went: an unanswered release goes on in the background, and a refused one was ended already.
    /// </summary>
    private static Task ReleaseTakenAsync(List<CoordinationLockHandle> held) => Task.WhenAll(held.Select(async member =>
    {
        try
        {
            await member.DisposeAsync();
        }
        catch (Exception)
        {
            // See above: the set's own failure is what the caller hears (a release that could not be sent, as from
            // a disposed client, is left to the member's finalizer and its session).
        }
    }));
}
