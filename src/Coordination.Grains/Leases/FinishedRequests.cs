using Coordination.Grains.Sessions;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// Lets the sessions of finished requests let them go. A request that ended here (released, cancelled,
/// revoked) is kept in the register's finished list, refusing a late copy of it, until its session has
/// detached it; only then may the queue forget it (<see cref="ILeaseState{TSelf}.LetGo"/>). The session refuses
/// the request from then on (its number is settled), so one of the two always does (see
/// <see cref="SessionAttachments{TQueue}"/>).
/// </summary>
/// <remarks>
/// Neither step costs a round of its own when the lock is in use. The detach waits a moment
/// (<see cref="DetachDelay"/>, to the next step of a grid of that length, <see cref="TimerGrid"/>, so the detaches of
/// many locks leave together): a next acquire of the same session here takes it along in its attach
/// (<see cref="ToDetach"/>), and the forgetting rides on the queue's next commit (<see cref="Apply"/>), or on the
/// idle queue's retirement (<see cref="IdleRetirement"/>). A detach that is not taken along is made on its own,
/// retried with backoff; if this activation goes away first, the next one (or the sweeper's ping) takes over
/// from the register.
/// </remarks>
internal sealed partial class FinishedRequests<TQueue>(ILeaseQueue<TQueue> queue, SessionDetaches detaches, Holding holding, TimeProvider time, ILogger logger)
    where TQueue : class, ILeaseState<TQueue>
{
    /// <summary>How long a finished request waits for a next acquire of its session to take its detach along.</summary>
    public static readonly TimeSpan DetachDelay = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);
    private readonly HashSet<(string Session, Guid Request)> _underway = [];
    private readonly HashSet<(string Session, Guid Request)> _detached = [];
    private readonly HashSet<(string Session, long Sequence)> _settling = [];
    private readonly HashSet<(string Session, long Sequence)> _settledCovers = [];
    private readonly Dictionary<string, (int Watchers, long Forgotten)> _watched = new(StringComparer.Ordinal);

    /// <summary>
    /// How many times a change in this activation forgot a settled cover (it only grows): an attach under way when it
    /// changes may have had its attachment let go by that cover's settle (see <see cref="SessionCovers"/>).
    /// </summary>
    public long CoverSettles { get; private set; }

    /// <summary>True when some finished request is detached at its session and waits for a commit to be forgotten.</summary>
    public bool HasDetached => _detached.Count > 0;

    /// <summary>
    /// After a committed change: starts letting go of every finished request not already under way (except those a
    /// cover pins, <see cref="SessionCovers.Pins"/>), and settling every retiring cover; drops what the commit forgot.
    /// </summary>
    public void LetGo(TQueue committed)
    {
        if (_detached.Count > 0)
        {
            _detached.IntersectWith(committed.Finished.Select(f => (f.SessionId, f.RequestId)));
        }

        if (_settledCovers.Count > 0)
        {
            _settledCovers.IntersectWith(committed.Covers.Select(c => (c.SessionId, c.Sequence)));
        }

        foreach (var f in committed.Finished)
        {
            if (!_detached.Contains((f.SessionId, f.RequestId)) && !SessionCovers.Pins(committed.Covers, f) && _underway.Add((f.SessionId, f.RequestId)))
            {
                _ = LetGoAsync(f);
            }
        }

        foreach (var c in committed.Covers)
        {
            if (c.Retiring && !_settledCovers.Contains((c.SessionId, c.Sequence)) && _settling.Add((c.SessionId, c.Sequence)))
            {
                _ = SettleAsync(c);
            }
        }
    }

    /// <summary>An attach that may make a cover for <paramref name="sessionId"/> begins: what this activation forgets of the session meanwhile is noted.</summary>
    public void Watch(string sessionId) =>
        _watched[sessionId] = _watched.TryGetValue(sessionId, out var w) ? (w.Watchers + 1, w.Forgotten) : (1, 0);

    public void Unwatch(string sessionId)
    {
        if (_watched.TryGetValue(sessionId, out var w))
        {
            if (w.Watchers <= 1)
            {
                _watched.Remove(sessionId);
            }
            else
            {
                _watched[sessionId] = (w.Watchers - 1, w.Forgotten);
            }
        }
    }

    /// <summary>The highest number of a watched session this activation forgot since the watch began.</summary>
    public long ForgottenOf(string sessionId) => _watched.TryGetValue(sessionId, out var w) ? w.Forgotten : 0;

    /// <summary>The numbers of <paramref name="sessionId"/>'s finished requests here not yet detached, for its next attach to take along.</summary>
    public long[] ToDetach(TQueue? seen, string sessionId) =>
        seen is null
            ? []
            : [.. seen.Finished.Where(f => f.SessionId == sessionId && f.Sequence > 0 && !_detached.Contains((f.SessionId, f.RequestId)) && !SessionCovers.Pins(seen.Covers, f)).Select(f => f.Sequence)];

    /// <summary>An attach took these requests' detach along: they may be forgotten.</summary>
    public void Detached(TQueue? seen, string sessionId, long[] sequences)
    {
        if (seen is null || sequences.Length == 0)
        {
            return;
        }

        foreach (var f in seen.Finished.Where(f => f.SessionId == sessionId && sequences.Contains(f.Sequence)))
        {
            _detached.Add((f.SessionId, f.RequestId));
        }
    }

    /// <summary>The queue without the finished requests whose sessions have let them go, and without the retiring covers they settled: applied to every change before it commits.</summary>
    public TQueue Apply(TQueue queue)
    {
        foreach (var (session, request) in _detached)
        {
            if (_watched.TryGetValue(session, out var w) && queue.Finished.Find(f => f.SessionId == session && f.RequestId == request) is { } f)
            {
                _watched[session] = (w.Watchers, Math.Max(w.Forgotten, f.Sequence));
            }

            queue = TQueue.LetGo(queue, session, request);
        }

        foreach (var (session, sequence) in _settledCovers)
        {
            var settled = SessionCovers.Settled(queue, session, sequence);
            if (!ReferenceEquals(settled, queue))
            {
                CoverSettles++;
                queue = settled;
            }
        }

        return queue;
    }

    private async Task LetGoAsync(FinishedRequest finished)
    {
        var key = (finished.SessionId, finished.RequestId);
        try
        {
            await UntilDoneAsync(
                finished.SessionId,
                () => _detached.Contains(key),
                () => finished.Sequence > 0 ? detaches.DetachAsync(finished.SessionId, holding, finished.Sequence) : Task.CompletedTask,
                () => _detached.Add(key));
        }
        finally
        {
            _underway.Remove(key);
        }
    }

    private async Task SettleAsync(SessionCover cover)
    {
        var key = (cover.SessionId, cover.Sequence);
        try
        {
            await UntilDoneAsync(
                cover.SessionId,
                () => _settledCovers.Contains(key),
                () => detaches.SettleCoverAsync(cover.SessionId, holding, cover.Sequence, cover.Mark),
                () => _settledCovers.Add(key));
        }
        finally
        {
            _settling.Remove(key);
        }
    }

    /// <summary>
    /// From the next step of the grid, calls the session until <paramref name="done"/>, with backoff; an ended or
    /// missing session counts as done (it has let go of everything, refuses every request, and its end clears the rest).
    /// </summary>
    private async Task UntilDoneAsync(string sessionId, Func<bool> done, Func<Task> call, Action markDone)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(50), MaxRetryDelay);
        try
        {
            await Task.Delay(TimerGrid.DelayTo(time, DetachDelay, DetachDelay), time);
            while (!done())
            {
                try
                {
                    await call();
                    markDone();
                }
                catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
                {
                    markDone();
                }
                catch (Exception ex)
                {
                    LogLetGoDeferred(logger, ex, queue.Name, SessionIds.Tag(sessionId));
                    await backoff.DelayAsync(time);
                }
            }
        }
        catch (Exception ex)
        {
            LogLetGoDeferred(logger, ex, queue.Name, SessionIds.Tag(sessionId));
        }
    }

    [LoggerMessage(EventId = 3007, Level = LogLevel.Debug, Message = "{Name}: letting session {Session} let go of a finished request deferred; retrying")]
    private static partial void LogLetGoDeferred(ILogger logger, Exception exception, string name, string session);
}
