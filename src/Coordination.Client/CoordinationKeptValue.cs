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
    private string? _previousTag;
    private Task _loop = Task.CompletedTask;
    private int _disposed;
    private int _looks;

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
    public int Restores { get; private set; }

    /// <summary>How many times the loop has looked at the value and set it or left it (for tests: a look after an event has happened).</summary>
    internal int Looks => Volatile.Read(ref _looks);

    /// <summary>Why keeping ended on its own (the client was closed, or the caller's own session was lost: nothing can set the value again); null while it is kept.</summary>
    public string? EndedReason { get; private set; }

    internal static CoordinationKeptValue Start(CoordinationValue value, string text, CoordinationSession session, VersionedValue set, CoordinationClientOptions options, TimeProvider time, ILogger logger)
    {
        var kept = new CoordinationKeptValue(value, text, options, time, logger) { _mine = (session, set) };
        kept._loop = Task.Run(() => kept.RunAsync(kept._stop.Token));
        return kept;
    }

    /// <summary>Stops keeping the value and deletes it if it is still this keeper's. An outage is the typed error of the delete (the value then goes with the session).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop;
        if (Current is { } mine)
        {
            // On the revision this keeper set: a value another writer set since is theirs.
            await _value.DeleteAsync(mine.Revision);
        }

        lock (_gate)
        {
            _mine = null;
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
                if (session.IsLost && !_value.Renewable)
                {
                    EndedReason = $"its session was lost ({session.LostReason ?? "its client deadline passed"})";
                    LogEnded(_logger, Name, EndedReason);
                    return;
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
                EndedReason = "the client was closed";
                LogEnded(_logger, Name, EndedReason);
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
    /// The value as it stands for this keeper: its own when bound to <paramref name="session"/>; else set on a compare
    /// when absent or still bound to the keeper's earlier session; else (another writer's) as found, left alone.
    /// </summary>
    private async Task<VersionedValue> EnsureSetAsync(CoordinationSession session, CancellationToken stop)
    {
        var current = await _value.GetAsync(stop);
        if (current.Exists && current.SessionTag == session.Tag)
        {
            Mine(session, current);
            return current;
        }

        lock (_gate)
        {
            _previousTag = _mine?.Session.Tag ?? _previousTag;
            _mine = null;
        }

        if (current.Exists && current.SessionTag != _previousTag)
        {
            return current;
        }

        var set = await _value.SetEphemeralOnAsync(session, _text, current.CompareRevision, stop);
        if (!set.Succeeded)
        {
            return set.Current;
        }

        Restores++;
        Mine(session, set.Current);
        LogSetAgain(_logger, Name, session.Tag);
        return set.Current;
    }

    /// <summary>Waits until the value is deleted (or given back), or the session is lost.</summary>
    private async Task WaitForLossAsync(CoordinationSession session, VersionedValue from, CancellationToken stop)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, session.LostToken);
        await foreach (var e in _value.WatchAsync(from.Revision, either.Token))
        {
            if (e.Kind == ValueEventKind.Deleted || (e.Kind == ValueEventKind.Resync && e.Value is null))
            {
                return;
            }

            // Set by another writer (this keeper sets only in EnsureSetAsync): theirs now; wait for it to go.
            lock (_gate)
            {
                _previousTag = null;
                _mine = null;
            }
        }
    }

    private void Mine(CoordinationSession session, VersionedValue value)
    {
        lock (_gate)
        {
            _mine = (session, value);
        }
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
