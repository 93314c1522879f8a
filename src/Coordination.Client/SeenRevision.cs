using System.Collections.Concurrent;

namespace Coordination.Client;

/// <summary>
/// The latest revision of one register a handle has seen in any reply, and the retry rule built on it. A change
/// whose reply was lost is retried under its request id, which the register keeps only for its latest changes; the
/// retry carries the revision seen before the first attempt, so that a register that has since forgotten the ids
/// of changes after it answers <see cref="OutcomeUnknownException"/> instead of applying the change a second time.
/// Thread-safe: one handle may be used by many callers at once.
/// </summary>
internal sealed class SeenRevision
{
    private long _latest;

    public long Latest => Interlocked.Read(ref _latest);

    /// <summary>Notes a revision from a reply; the latest only grows.</summary>
    public void Saw(long revision)
    {
        var current = Interlocked.Read(ref _latest);
        while (revision > current)
        {
            var found = Interlocked.CompareExchange(ref _latest, revision, current);
            if (found == current)
            {
                return;
            }

            current = found;
        }
    }

    /// <summary>Notes the revision of a reply (<paramref name="revisionOf"/>) and passes the reply on.</summary>
    public T Noted<T>(T reply, Func<T, long> revisionOf)
    {
        Saw(revisionOf(reply));
        return reply;
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> through <see cref="Retry.UntilAsync{T}(Func{Task{T}}, CoordinationClientOptions, TimeProvider, CancellationToken)"/>:
    /// the first attempt with null, each retry with the revision seen before the first attempt; then notes the
    /// reply's revision.
    /// </summary>
    public async Task<T> ChangeAsync<T>(Func<long?, Task<T>> attempt, Func<T, long> revisionOf, CoordinationClientOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var since = Latest;
        var first = true;
        var reply = await Retry.UntilAsync(
            () =>
            {
                var retriedSince = first ? (long?)null : since;
                first = false;
                return attempt(retriedSince);
            },
            options,
            time,
            cancellationToken);
        return Noted(reply, revisionOf);
    }
}

/// <summary>
/// One client's <see cref="SeenRevision"/> per register name, shared by every handle of it: a handle made for one
/// call (<c>client.CreateAtomicLong(name).AddAsync(1)</c>) still retries with the latest revision any of them saw.
/// Bounded: past <see cref="Capacity"/> names it starts afresh, which only makes a later retry more cautious
/// (a name with no revision seen retries since 0).
/// </summary>
internal sealed class SeenRevisions
{
    public const int Capacity = 10_000;

    private readonly ConcurrentDictionary<(char Kind, string Name), SeenRevision> _byName = new();

    /// <summary>The tracker of <paramref name="name"/>'s register of <paramref name="kind"/> ('c' counter, 'v' value, 'l' latch).</summary>
    public SeenRevision For(char kind, string name)
    {
        if (_byName.TryGetValue((kind, name), out var seen))
        {
            return seen;
        }

        if (_byName.Count >= Capacity)
        {
            _byName.Clear();
        }

        return _byName.GetOrAdd((kind, name), _ => new SeenRevision());
    }
}
