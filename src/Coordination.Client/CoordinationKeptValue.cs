using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>
/// An ephemeral value kept set (<see cref="CoordinationValue.KeepEphemeralAsync"/>): a loop sets it again, through
/// the client's next shared session, when its session is lost or the value is deleted, and leaves alone a value
/// another writer set since, until that one goes. Disposing it stops the loop and deletes the value if it is still
/// the keeper's.
/// </summary>
/// <remarks>
/// The loop never overwrites another writer: after a loss it sets the value only on a compare (absent, or still
/// bound to the keeper's earlier session at the revision read), so two keepers of one name take turns instead of
/// fighting. While the value is bound to the keeper's session it waits on a watch, ended early by the session's lost
/// token.
/// </remarks>
public sealed partial class CoordinationKeptValue : IAsyncDisposable
{
    /// <summary>The longest pause between attempts through an outage.</summary>
    internal static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);

    private readonly CoordinationValue _value;
    private readonly string _text;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private (CoordinationSession Session, VersionedValue Value)? _mine;

    /// <summary>
    /// The last session the keeper's value was bound to, or that it set the value through (a set whose reply never came
    /// may still have bound it): a binding to it with the keeper's text is the keeper's own, to take over after a loss.
    /// </summary>
    private CoordinationSession? _writing;
    private Task _loop = Task.CompletedTask;
    private int _disposed;
    private int _looks;
    private int _restores;
    private volatile string? _endedReason;

    private CoordinationKeptValue(CoordinationValue value, string text, CoordinationClientOptions options, TimeProvider time, ILogger logger)
    {
        _value = value;
        _text = text;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public string Name => _value.Name;

    /// <summary>The value as this keeper last set it, while it is bound to the keeper's live session; null otherwise (lost, taken over, or being set again).</summary>
    public VersionedValue? Current
    {
        get
        {
            lock (_gate)
            {
                return _mine is { } mine && !mine.Session.IsLost ? mine.Value : null;
            }
        }
    }

    /// <summary>How many times the value was set again after its first set (a session lost, the value deleted or given back).</summary>
    public int Restores => Volatile.Read(ref _restores);

    /// <summary>How many times the loop has looked at the value and set it or left it (for tests: a look after an event has happened).</summary>
    internal int Looks => Volatile.Read(ref _looks);

    /// <summary>Why keeping ended on its own (the client was closed, or the caller's own session was lost: nothing can set the value again); null while it is kept.</summary>
    public string? EndedReason => _endedReason;

    internal static CoordinationKeptValue Start(CoordinationValue value, string text, CoordinationSession session, VersionedValue set, CoordinationClientOptions options, TimeProvider time, ILogger logger)
    {
        var kept = new CoordinationKeptValue(value, text, options, time, logger) { _mine = (session, set), _writing = session };
        kept._loop = Task.Run(() => kept.RunAsync(kept._stop.Token));
        return kept;
    }

    /// <summary>
    /// Stops keeping the value (waiting for a set under way to be answered) and deletes it if it is still this
    /// keeper's: on the revision it set, or, after a set whose reply never came, on the revision read when the value is
    /// bound to that set's session with the keeper's text. An outage is the typed error of that call; the value then
    /// stays until it is deleted or its session ends.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop;
        (CoordinationSession Session, VersionedValue Value)? mine;
        CoordinationSession? writing;
        lock (_gate)
        {
            (mine, writing) = (_mine, _writing);
            _mine = null;
        }

        if (mine is { Session.IsLost: false } known)
        {
            // Its own at a known revision: one conditional delete (a value another writer set since is at another).
            await _value.DeleteAsync(known.Value.Revision);
        }
        else if (mine is null && writing is { IsLost: false })
        {
            // A set whose reply never came may have bound it: read, and delete it if so.
            var current = await _value.GetAsync();
            if (Mine(current, writing))
            {
                await _value.DeleteAsync(current.Revision);
            }
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        Backoff? backoff = null;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var session = await _value.SessionAsync(stop);
                if (session.IsLost)
                {
                    if (!_value.Renewable)
                    {
                        End($"its session was lost ({session.LostReason ?? "its client deadline passed"})");
                        return;
                    }

                    // A shared session lost as it opened (a slow cluster, a short TTL): after a pause, like an outage.
                    throw new SessionExpiredException(session.Id, session.LostReason ?? "lost as it opened");
                }

                var bound = await EnsureSetAsync(session, stop);
                Interlocked.Increment(ref _looks);
                if (backoff is not null)
                {
                    LogKeptAgain(_logger, Name);
                    backoff = null;
                }

                await WaitForLossAsync(session, bound, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                // The session was lost while waiting: look again through the next one.
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                End("the client was closed");
                return;
            }
            catch (SessionExpiredException ex) when (!_value.Renewable)
            {
                End($"its session was lost ({ex.Message})");
                return;
            }
            catch (Exception ex)
            {
                // An outage, or the session lost between the look and the set: look again after a pause.
                if (backoff is null)
                {
                    LogKeepFailed(_logger, ex, Name);
                }

                backoff ??= new Backoff(_options.RetryDelay, MaxRetryDelay);
                try
                {
                    await backoff.DelayAsync(_time, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// The value as it stands for this keeper: its own when bound to <paramref name="session"/> with the keeper's text;
    /// else set on a compare when absent, or still the keeper's under its earlier session; else (another writer's,
    /// persistent or bound) as found, left alone. The set is not cancelled by a dispose, which waits for its answer so
    /// that it can delete what it bound.
    /// </summary>
    private async Task<VersionedValue> EnsureSetAsync(CoordinationSession session, CancellationToken stop)
    {
        var current = await _value.GetAsync(stop);
        if (Mine(current, session))
        {
            Mine(session, current);
            return current;
        }

        string? earlier;
        lock (_gate)
        {
            earlier = _writing?.Tag;
            _mine = null;
        }

        if (current.Exists && !(current.Value == _text && current.SessionTag == earlier))
        {
            return current;
        }

        lock (_gate)
        {
            _writing = session;
        }

        var set = await _value.SetEphemeralOnAsync(session, _text, current.CompareRevision, CancellationToken.None);
        if (!set.Succeeded)
        {
            if (Mine(set.Current, session))
            {
                Mine(session, set.Current);
            }

            return set.Current;
        }

        Interlocked.Increment(ref _restores);
        Mine(session, set.Current);
        LogSetAgain(_logger, Name, session.Tag);
        return set.Current;
    }

    /// <summary>Waits until the value is deleted (or given back), or the session is lost; at once when it is already absent (a look raced its delete).</summary>
    private async Task WaitForLossAsync(CoordinationSession session, VersionedValue from, CancellationToken stop)
    {
        if (!from.Exists)
        {
            return;
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, session.LostToken);
        await foreach (var e in _value.WatchAsync(from.Revision, either.Token))
        {
            // Deleted: set it again. Set (this keeper sets only in EnsureSetAsync): another writer's now, whose binding is
            // not the keeper's session, so it is never taken over; wait for it to go.
            lock (_gate)
            {
                _mine = null;
            }

            if (e.Kind == ValueEventKind.Deleted || (e.Kind == ValueEventKind.Resync && e.Value is null))
            {
                return;
            }
        }
    }

    /// <summary>True when <paramref name="value"/> is this keeper's through <paramref name="session"/>: bound to it, with the keeper's text.</summary>
    private bool Mine(VersionedValue value, CoordinationSession session) =>
        value.Exists && value.SessionTag == session.Tag && value.Value == _text;

    private void Mine(CoordinationSession session, VersionedValue value)
    {
        lock (_gate)
        {
            (_mine, _writing) = ((session, value), session);
        }
    }

    private void End(string reason)
    {
        _endedReason = reason;
        LogEnded(_logger, Name, reason);
    }

    [LoggerMessage(EventId = 4301, Level = LogLevel.Information, Message = "Kept value {Name} set again, bound to session {Session}")]
    private static partial void LogSetAgain(ILogger logger, string name, string session);

    [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "Keeping value {Name} failed; retrying with backoff until it is set again")]
    private static partial void LogKeepFailed(ILogger logger, Exception ex, string name);

    [LoggerMessage(EventId = 4303, Level = LogLevel.Information, Message = "Keeping value {Name} works again")]
    private static partial void LogKeptAgain(ILogger logger, string name);

    [LoggerMessage(EventId = 4304, Level = LogLevel.Warning, Message = "Stopped keeping value {Name}: {Reason}")]
    private static partial void LogEnded(ILogger logger, string name, string reason);
}
