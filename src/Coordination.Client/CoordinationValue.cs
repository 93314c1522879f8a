using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>
/// A named value with revisions (etcd's key-value, a ZooKeeper node): get, set, compare-and-set on a revision,
/// delete, and a watch of every change. Linearizable: every reply follows a majority accept. A value set with
/// <see cref="SetEphemeralAsync"/> belongs to a session and is deleted when the session ends (ZooKeeper's
/// ephemeral nodes, Consul's session-bound keys), e.g. to announce a service instance while it lives.
/// </summary>
public sealed class CoordinationValue
{
    private readonly Func<CancellationToken, ValueTask<CoordinationSession>> _session;
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ClusterChangeSignal _changes;
    private readonly SeenRevision _seen;
    private readonly ILogger _logger;

    /// <param name="renewable">True for the client's shared session, which is opened again when lost; false for a session of the caller's.</param>
    internal CoordinationValue(string name, Func<CancellationToken, ValueTask<CoordinationSession>> session, bool renewable, IGrainFactory grains, CoordinationClientOptions options, TimeProvider time, ClusterChangeSignal changes, SeenRevisions seen, ILogger logger)
    {
        _seen = seen.For('v', name);
        Name = name;
        _session = session;
        Renewable = renewable;
        _grains = grains;
        _options = options;
        _time = time;
        _changes = changes;
        _logger = logger;
    }

    public string Name { get; }

    private IValueGrain Grain => _grains.Reference<IValueGrain>(Name);

    /// <summary>The value and its revision (<see cref="VersionedValue.Value"/> null when it does not exist).</summary>
    public async Task<VersionedValue> GetAsync(CancellationToken cancellationToken = default) =>
        _seen.Noted(await Retry.UntilAsync(() => Grain.Get(), _options, _time, cancellationToken), v => v.Revision);

    /// <summary>Sets the value, whatever it was; a persistent value (an ephemeral one becomes persistent).</summary>
    public async Task<VersionedValue> SetAsync(string value, CancellationToken cancellationToken = default) =>
        (await WriteAsync(new ValueWrite(Guid.NewGuid(), Required(value), null), cancellationToken)).Current;

    /// <summary>
    /// Sets the value only if it is at <paramref name="expectedRevision"/> (0: only if it does not exist). The result
    /// says whether it did, and carries the value it found when it did not.
    /// </summary>
    public Task<ValueWriteResult> CompareAndSetAsync(long expectedRevision, string value, CancellationToken cancellationToken = default) =>
        WriteAsync(new ValueWrite(Guid.NewGuid(), Required(value), ExpectedRevision(expectedRevision)), cancellationToken);

    /// <summary>Deletes the value (only if it is at <paramref name="expectedRevision"/>, when given); not succeeded when there was nothing to delete or the revision differs.</summary>
    public Task<ValueWriteResult> DeleteAsync(long? expectedRevision = null, CancellationToken cancellationToken = default) =>
        WriteAsync(new ValueWrite(Guid.NewGuid(), null, expectedRevision is { } e ? ExpectedRevision(e) : null), cancellationToken);

    /// <summary>
    /// Sets the value bound to this value's session (the client's shared session, or the one it was created from):
    /// it is deleted when the session ends (closed, expired, or its client gone for a TTL). Conditional on
    /// <paramref name="expectedRevision"/> when given (0: only if it does not exist).
    /// </summary>
    public async Task<ValueWriteResult> SetEphemeralAsync(string value, long? expectedRevision = null, CancellationToken cancellationToken = default)
    {
        Required(value);
        var expected = expectedRevision is { } e ? ExpectedRevision(e) : (long?)null;
        return await SetEphemeralOnAsync(await _session(cancellationToken), value, expected, cancellationToken);
    }

    /// <summary>
    /// Keeps the value set, bound to the client's shared session, until the returned keeper is disposed (Curator's
    /// ephemeral <c>PersistentNode</c>, a service instance's registration): sets it now (as
    /// <see cref="SetEphemeralAsync"/>, whatever it was), and sets it again, through a new shared session, when the
    /// session is lost or the value is deleted. A value another writer set since is left alone until it goes.
    /// Disposing the keeper deletes the value if it is still the keeper's. On a value made from a session of the
    /// caller's (<see cref="CoordinationSession.CreateValue"/>) the keeping ends with that session.
    /// </summary>
    public async Task<CoordinationKeptValue> KeepEphemeralAsync(string value, CancellationToken cancellationToken = default)
    {
        Required(value);
        var session = await _session(cancellationToken);
        var set = await SetEphemeralOnAsync(session, value, null, cancellationToken);
        return CoordinationKeptValue.Start(this, value, session, set.Current, _options, _time, _logger);
    }

    /// <summary>True when this value's session is the client's shared one, opened again when lost.</summary>
    internal bool Renewable { get; }

    internal ValueTask<CoordinationSession> SessionAsync(CancellationToken cancellationToken) => _session(cancellationToken);

    internal async Task<ValueWriteResult> SetEphemeralOnAsync(CoordinationSession session, string value, long? expected, CancellationToken cancellationToken)
    {
        session.ThrowIfLost();
        var number = session.Requests.Next();
        try
        {
            var write = new ValueWrite(Guid.NewGuid(), value, expected, session.Id, number, session.Requests.SettledThrough);
            return await WriteAsync(write, cancellationToken);
        }
        catch (SessionExpiredException ex) when (ex.SessionId == session.Id)
        {
            // The cluster's word that this session can no longer be used (it ended, or an operator revoked it), as an
            // acquire's refusal is: every handle of it is lost now, and the next call opens a new one.
            session.MarkLost(ex.Message);
            throw;
        }
        finally
        {
            // Answered or given up: a late copy of this write is refused by its session from now on, or is already bound to it.
            session.Requests.Settle(number);
        }
    }

    /// <summary>
    /// Every change after <paramref name="afterRevision"/>, in revision order, each once, without polling (each call
    /// waits on the silo for the next revision). Resumable: pass the last revision seen. A watcher that fell behind the
    /// retained history gets a <see cref="ValueEventKind.Resync"/> event with the current value. Failovers are retried
    /// transparently, and a watch whose silo may have died is re-issued at once.
    /// </summary>
    public async IAsyncEnumerable<ValueEvent> WatchAsync(long afterRevision = 0, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ExpectedRevision(afterRevision);
        var seen = afterRevision;
        var grain = Grain;
        while (!cancellationToken.IsCancellationRequested)
        {
            var after = seen;
            var result = await ParkedReads.CallAsync($"watch of '{Name}'", park => grain.Watch(after, park), _changes, Deadline.Infinite(_time), _options, _time, cancellationToken);
            if (result is null)
            {
                continue;
            }

            if (result.Resync)
            {
                seen = result.Revision;
                yield return new ValueEvent(result.Revision, ValueEventKind.Resync, result.Current?.Value);
                continue;
            }

            foreach (var e in result.Events)
            {
                if (e.Revision > seen)
                {
                    seen = e.Revision;
                    yield return e;
                }
            }
        }
    }

    /// <summary>
    /// A write under one request id, retried through failovers: the value's retained history answers a retry as the
    /// first attempt was, or, once it no longer covers the revisions since this handle's latest, fails it as unknown.
    /// </summary>
    private Task<ValueWriteResult> WriteAsync(ValueWrite write, CancellationToken cancellationToken) =>
        _seen.ChangeAsync(since => Grain.Write(write with { RetriedSince = since }), r => r.Current.Revision, _options, _time, cancellationToken);

    private static string Required(string value) => value ?? throw new ArgumentNullException(nameof(value), "A value is required; delete with DeleteAsync.");

    private static long ExpectedRevision(long revision) =>
        revision < 0 ? throw new ArgumentOutOfRangeException(nameof(revision), revision, "A revision is 0 or more.") : revision;
}
