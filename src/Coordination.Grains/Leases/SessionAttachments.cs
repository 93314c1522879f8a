using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// The sessions a lock's or election's queue names, and the rule they serve: <b>no grant outlives its
/// session</b>. A grant, and a place in the queue, belong to a request of a session; once the session has
/// ended (expired, closed, or its state lost) they are removed, and no later request of it is committed. This
/// is the one place that lists every mechanism enforcing the rule; the others point here.
/// <list type="number">
/// <item><b>Read, attach, then commit under the same promise.</b> A request is committed only after its
/// session has recorded it (<see cref="AttachAsync"/>: a majority accept in one of the session's shards, which
/// fails with a typed error for a missing or ended session, or for a request already over). The queue first
/// takes its register's promise (<c>PeekAsync</c>), then attaches, then commits the request under that same
/// promise generation. The session's end tells the queue only after it has marked the shard ended and read what
/// is attached there: if that telling reaches the queue before the commit, it is a write to the queue's register
/// (another promise, so the commit is refused and the attach tried again, and refused), or, within this
/// activation, an end recorded in memory (<see cref="IsEndedHere"/>); if it comes after, it finds the request.
/// No list of ended sessions is kept in the register, so an idle lock can be deleted.</item>
/// <item><b>Or ride on the session's cover.</b> A session that uses a name again may have a cover there
/// (<see cref="SessionCovers"/>): one of its requests kept attached while the register names the cover. A request
/// carried by it is committed without an attach, only while the value it commits on still names the cover; the
/// session's end finds the queue through the cover's attachment, which is let go only after a committed value
/// stopped naming the cover.</item>
/// <item><b>Let go only after the queue is done.</b> A request that ends here (release, cancel, revoke) stays in
/// the register's finished list until its session has let it go (<see cref="FinishedRequests{TQueue}"/>), so a late copy
/// of it is refused here until the session refuses it itself (its number settled).</item>
/// <item><b>The holder audit.</b> While anyone waits for a held grant, the holder's request is checked in its
/// session every <see cref="CoordinationOptions.HolderAuditInterval"/>: a safety net for whatever slips past.</item>
/// <item><b>Session verification on activation.</b> Every new activation checks every request its register
/// holds, holder and waiters: it catches a session whose own state was lost (it can tell nobody).</item>
/// <item><b>The failover sweeper.</b> A session's lease is timed only by its activation, and nobody calls a
/// dead client's session again: after a silo dies, <see cref="FailoverSweeper"/> re-activates, from every
/// silo's replicas, each session that is alive or still ending, so its lease restarts in full and it expires
/// and tells its holdings; each lock waiting out a lock-delay, so the delay ends; and, now and then, each lock
/// with finished requests still to let go.</item>
/// </list>
/// A request found ended by a check is ended here as expired (its holder's lock-delay applies); one whose
/// session's state is gone (a re-initialised partition) as vanished: its grant blocks the lock for one more TTL,
/// since its owner may still believe in its lease (<see cref="LockStateMachine.SessionEnded"/>); one its session
/// does not list is withdrawn.
/// </summary>
internal sealed partial class SessionAttachments<TQueue>(IGrainBase owner, IGrainFactory grains, ILeaseQueue<TQueue> queue, Holding holding, TimeSpan auditInterval, ILogger logger)
    where TQueue : class, ILeaseState<TQueue>
{
    private const int RememberedEnds = 1024;
    private readonly HashSet<string> _endedHere = new(StringComparer.Ordinal);
    private readonly Queue<string> _endedOrder = new();
    private IGrainTimer? _auditTimer;

    /// <summary>Records the request in its session and returns the session's TTL; a request already over is refused as finished here.</summary>
    /// <param name="finished">Requests of the same session that are over here, let go at the session in the same round.</param>
    /// <param name="covering">The request will make its session's cover here (<see cref="SessionCovers"/>): the shard also tells the highest number it knows.</param>
    public async Task<CoverAttach> AttachAsync(LockRequest request, long settledThrough, long[] finished, bool covering)
    {
        try
        {
            var session = grains.Reference<ISessionGrainInternal>(request.SessionId);
            var done = finished.Length == 0 ? null : finished;
            return covering
                ? await session.AttachCover(holding, request.Sequence, settledThrough, done)
                : new CoverAttach(await session.Attach(holding, request.Sequence, settledThrough, done), 0);
        }
        catch (RequestFinishedException ex)
        {
            throw new RequestFinishedException(queue.Name, request.RequestId, ex.Outcome);
        }
    }

    /// <summary>True when this activation has ended <paramref name="sessionId"/> here: a request of it attached before must not be committed now.</summary>
    public bool IsEndedHere(string sessionId) => _endedHere.Contains(sessionId);

    /// <summary>The session told this queue that it ended: drop its grant and queue entries.</summary>
    public Task EndedAsync(string sessionId, SessionStatus how) =>
        EndAsync(sessionId, how == SessionStatus.Expired ? SessionEnd.Expired : SessionEnd.Closed);

    /// <summary>
    /// Confirms that every request the register holds (only the holder's, for the audit) is attached in its live
    /// session; a session found ended or vanished is ended here, a request its session does not list is withdrawn.
    /// A failure (no majority yet) is logged: the next audit or activation checks again.
    /// </summary>
    public async Task VerifyAsync(bool holderOnly = false)
    {
        try
        {
            var current = await queue.ReadQueueAsync();
            var requests = holderOnly ? current.Requests().Take(current.HolderCount) : current.Requests();
            foreach (var request in requests.ToList())
            {
                try
                {
                    // A carried request is attached through its cover (see SessionCovers).
                    if (!await grains.Reference<ISessionGrainInternal>(request.SessionId).IsAttached(holding, request.Cover > 0 ? request.Cover : request.Sequence))
                    {
                        LogNotAttached(logger, queue.Name, SessionIds.Tag(request.SessionId), request.Sequence);
                        await queue.ChangeQueueAsync((q, epoch) => TQueue.Cancel(q, request.SessionId, request.RequestId, epoch, request.Sequence));
                    }
                }
                catch (SessionExpiredException)
                {
                    await EndAsync(request.SessionId, SessionEnd.Expired);
                }
                catch (SessionNotFoundException)
                {
                    LogSessionVanished(logger, queue.Name, SessionIds.Tag(request.SessionId));
                    await EndAsync(request.SessionId, SessionEnd.Vanished);
                }
            }
        }
        catch (Exception ex)
        {
            LogVerifyDeferred(logger, ex, queue.Name);
        }
    }

    /// <summary>After a committed change: runs the holder audit while someone waits for a held grant, and only then.</summary>
    public void ArmAudit(TQueue committed)
    {
        var needed = committed.HolderCount > 0 && committed.WaiterCount > 0;
        if (needed && _auditTimer is null)
        {
            _auditTimer = owner.RegisterGrainTimer(_ => VerifyAsync(holderOnly: true), new GrainTimerCreationOptions(auditInterval, auditInterval) { KeepAlive = true, Interleave = true });
        }
        else if (!needed && _auditTimer is not null)
        {
            _auditTimer.Dispose();
            _auditTimer = null;
        }
    }

    private Task EndAsync(string sessionId, SessionEnd how) =>
        queue.ChangeQueueAsync((q, epoch) =>
        {
            // Recorded as the change applies, so an enqueue of this session later in the same batch, or later on
            // this activation under the same promise, sees it.
            RememberEnded(sessionId);
            var (next, changed) = TQueue.SessionEnded(q, sessionId, how, epoch);
            var uncovered = SessionCovers.Without(next, sessionId);
            return (uncovered, changed || !ReferenceEquals(uncovered, next));
        });

    private void RememberEnded(string sessionId)
    {
        if (_endedHere.Add(sessionId))
        {
            _endedOrder.Enqueue(sessionId);
            if (_endedOrder.Count > RememberedEnds)
            {
                _endedHere.Remove(_endedOrder.Dequeue());
            }
        }
    }

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "{Name}: checking its sessions deferred (no majority yet)")]
    private static partial void LogVerifyDeferred(ILogger logger, Exception exception, string name);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "{Name}: the state of session {Session} is gone (re-initialised); its grant is held for one more TTL before the queue moves on")]
    private static partial void LogSessionVanished(ILogger logger, string name, string session);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "{Name}: request {Sequence} of session {Session} is not attached there; withdrawn")]
    private static partial void LogNotAttached(ILogger logger, string name, string session, long sequence);
}
