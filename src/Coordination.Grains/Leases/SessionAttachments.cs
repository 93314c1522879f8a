using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// The sessions a lock's or election's queue names, and the rule they serve: <b>no grant outlives its
/// session</b>. A grant, and a place in the queue, belong to a session; once the session has ended (expired,
/// closed, or its state lost) they are removed, and no later request of it is committed. This is the one
/// place that lists every mechanism enforcing the rule; the others point here.
/// <list type="number">
/// <item><b>Attach before commit.</b> A request is committed only after its session has recorded this
/// lock or election as a <see cref="Holding"/> (<see cref="AttachAsync"/>: a majority accept in the
/// session's register that fails, with a typed error, for a missing or ended session). So the session's
/// end reaches every queue it is in: an ended <see cref="SessionGrain"/> tells each holding
/// (<c>OnSessionEnded</c>), retrying until each has taken it, and only then forgets it.</item>
/// <item><b>The ended-session list.</b> A session may end between its Attach and the commit of its
/// request, and its end may reach the queue first. The queue remembers recently ended sessions in the
/// register (<see cref="LockRecord.EndedSessions"/>, the newest <see cref="LockStateMachine.MaxEndedSessions"/>),
/// and <see cref="LockStateMachine.Acquire"/> refuses a request from one of them. The attachment cache never
/// keeps a session that list names, so once the list has moved on, a late request attaches again and its
/// session refuses it.</item>
/// <item><b>The holder audit.</b> While anyone waits for a held grant, the holder's session is checked
/// again every <see cref="CoordinationOptions.HolderAuditInterval"/>, which catches what slips past the two
/// above (a cache in a duplicate activation: Orleans' directory is only eventually consistent).</item>
/// <item><b>Session verification on activation.</b> Every new activation checks every session its register
/// names, holder and waiters: it catches a session whose own state was lost (it can tell nobody) and
/// whatever an earlier activation let slip.</item>
/// <item><b>The failover sweeper.</b> A session's lease is timed only by its activation, and nobody calls a
/// dead client's session again: after a silo dies, <see cref="FailoverSweeper"/> re-activates, from every
/// silo's replicas, each session that is alive or still has holdings to tell, so its lease restarts in full
/// and it expires and tells its holdings; and each lock waiting out a lock-delay, so the delay ends.</item>
/// </list>
/// A session found ended by a check is ended here as expired (its holder's lock-delay applies); one whose
/// state is gone (a re-initialised partition) as vanished: its grant blocks the lock for one more TTL, since
/// its owner may still believe in its lease (<see cref="LockStateMachine.SessionEnded"/>).
/// </summary>
internal sealed partial class SessionAttachments(IGrainBase owner, IGrainFactory grains, ILeaseQueue queue, Holding holding, TimeSpan auditInterval, ILogger logger)
{
    private readonly Dictionary<string, TimeSpan> _attached = new(StringComparer.Ordinal);
    private IGrainTimer? _auditTimer;

    /// <summary>Records this lock or election in the session (once per session and activation) and returns the session's TTL.</summary>
    public async Task<TimeSpan> AttachAsync(string sessionId)
    {
        if (_attached.TryGetValue(sessionId, out var ttl))
        {
            return ttl;
        }

        ttl = await grains.GetGrain<ISessionGrainInternal>(sessionId).Attach(holding);
        if (!queue.CommittedQueue.EndedSessions.Contains(sessionId))
        {
            _attached[sessionId] = ttl;
        }

        return ttl;
    }

    /// <summary>The session told this queue that it ended: drop its grant and queue entries.</summary>
    public Task EndedAsync(string sessionId, SessionStatus how) =>
        EndAsync(sessionId, how == SessionStatus.Expired ? SessionEnd.Expired : SessionEnd.Closed);

    /// <summary>
    /// Confirms that every session the register names (only the holder's, for the audit) is alive and lists
    /// this grain; a session found ended or vanished is ended here. A failure (no majority yet) is logged:
    /// the next audit or activation checks again.
    /// </summary>
    public async Task VerifyAsync(bool holderOnly = false)
    {
        try
        {
            var current = await queue.ReadQueueAsync();
            var sessions = holderOnly ? (current.Holder is { } h ? [h.SessionId] : []) : current.Sessions().ToList();
            foreach (var session in sessions)
            {
                try
                {
                    _attached.Remove(session);
                    await AttachAsync(session);
                }
                catch (SessionExpiredException)
                {
                    await EndAsync(session, SessionEnd.Expired);
                }
                catch (SessionNotFoundException)
                {
                    LogSessionVanished(logger, queue.Name, SessionIds.Tag(session));
                    await EndAsync(session, SessionEnd.Vanished);
                }
            }
        }
        catch (Exception ex)
        {
            LogVerifyDeferred(logger, ex, queue.Name);
        }
    }

    /// <summary>After a committed change: forgets the attachments of sessions the register says have ended.</summary>
    public void ForgetEnded(LockRecord committed)
    {
        foreach (var ended in committed.EndedSessions)
        {
            _attached.Remove(ended);
        }
    }

    /// <summary>After a committed change: runs the holder audit while someone waits for a held grant, and only then.</summary>
    public void ArmAudit(LockRecord committed)
    {
        var needed = committed is { Holder: not null, Waiters.IsEmpty: false };
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

    private Task EndAsync(string sessionId, SessionEnd how)
    {
        _attached.Remove(sessionId);
        return queue.ChangeQueueAsync((q, epoch) => LockStateMachine.SessionEnded(q, sessionId, how, epoch));
    }

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "{Name}: checking its sessions deferred (no majority yet)")]
    private static partial void LogVerifyDeferred(ILogger logger, Exception exception, string name);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "{Name}: the state of session {Session} is gone (re-initialised); its grant is held for one more TTL before the queue moves on")]
    private static partial void LogSessionVanished(ILogger logger, string name, string session);
}
