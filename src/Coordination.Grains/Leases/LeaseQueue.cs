using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// What tells one kind of queued lease from another: how sessions name their holdings of it (and so its
/// register key), and where its register value keeps the queue.
/// </summary>
/// <param name="Holding">The kind of holding a session records for it.</param>
/// <param name="QueueOf">The queue inside a register value (empty when there is none yet).</param>
/// <param name="WithQueue">The register value with a new queue in place, plus whatever the kind derives from a change (an election's revision and history).</param>
internal sealed record LeaseKind<TRecord>(HoldingKind Holding, Func<TRecord?, LockRecord> QueueOf, Func<TRecord?, LockRecord, TRecord> WithQueue)
    where TRecord : class;

/// <summary>
/// The queued lease of one lock or election, owned by its grain: a FIFO queue of (session, request) entries
/// kept in a replicated register (<see cref="LockRecord"/>), whose head holds a grant tied to its session,
/// with fencing tokens. The grain is the register's proposer and is reentrant, so parked waiters never block
/// releases; every change still goes one accept at a time through the proposer, and memory holds only caches.
/// </summary>
/// <remarks>
/// It composes one part per mechanism, each reusable by other kinds of lease (a semaphore, a reader-writer
/// lock) around their own state: <see cref="RequestRules"/> (input), <see cref="ParkedWaiters"/>,
/// <see cref="SessionAttachments"/> (which owns the rule that no grant outlives its session),
/// <see cref="LockDelayTimer"/> and <see cref="GrantRevocation"/>.
/// </remarks>
/// <typeparam name="TRecord">The register value: the queue itself, or a record that contains it.</typeparam>
internal sealed partial class LeaseQueue<TRecord> : ILeaseQueue where TRecord : class
{
    private readonly LeaseKind<TRecord> _kind;
    private readonly string? _invalidName;
    private readonly IRegister<TRecord>? _register;
    private readonly ParkedWaiters _parked;
    private readonly SessionAttachments _sessions;
    private readonly LockDelayTimer _delay;
    private readonly GrantRevocation _revocation;
    private readonly ILogger _logger;

    /// <summary>Builds the queue of the grain <paramref name="owner"/>, named by its key; call from its activation.</summary>
    public LeaseQueue(Grain owner, IGrainFactory grains, LeaseKind<TRecord> kind, RegisterFactory registers, TimeProvider time, CoordinationOptions options, ILogger logger)
    {
        _kind = kind;
        _logger = logger;
        Name = owner.GetPrimaryKeyString();
        _invalidName = Names.Check(Name);
        var holding = new Holding(kind.Holding, Name);
        _parked = new ParkedWaiters(this, time, options.MaxPark);
        _sessions = new SessionAttachments(owner, grains, this, holding, options.HolderAuditInterval, logger);
        _delay = new LockDelayTimer(owner, this, logger);
        _revocation = new GrantRevocation(this, grains, logger);
        if (_invalidName is null)
        {
            _register = registers.Create<TRecord>(holding.RegisterKey);
            _register.Committed = OnCommitted;
        }
    }

    public string Name { get; }

    /// <summary>The last value this activation committed.</summary>
    public TRecord? Last { get; private set; }

    public LockRecord CommittedQueue => _kind.QueueOf(Last);

    /// <summary>Called after every committed change, after the queue's own reactions (an election wakes its observers).</summary>
    public Action<TRecord?>? Committed { get; set; }

    /// <summary>A name that broke the rules is refused at every call; no register is ever made for it.</summary>
    private IRegister<TRecord> Register => _register ?? throw new InvalidNameException("name", _invalidName!);

    /// <summary>Starts the check of the sessions the register names (see <see cref="SessionAttachments"/>).</summary>
    public void Activate()
    {
        if (_invalidName is null)
        {
            _ = _sessions.VerifyAsync();
        }
    }

    public void ValidateName()
    {
        if (_invalidName is not null)
        {
            throw new InvalidNameException("name", _invalidName);
        }
    }

    /// <summary>Applies a change to the whole register value in one accept.</summary>
    public Task<T> ExecuteAsync<T>(RegisterChange<TRecord, T> change) => Register.ExecuteAsync(change);

    public Task<T> ChangeQueueAsync<T>(Func<LockRecord, long, (LockRecord Queue, T Result)> change) =>
        Register.ExecuteAsync((r, c) =>
        {
            var queue = _kind.QueueOf(r);
            var (next, result) = change(queue, c.TokenEpoch);
            return (ReferenceEquals(next, queue) && r is not null ? r : _kind.WithQueue(r, next), result);
        });

    /// <summary>A read that commits (a majority accept of the unchanged value, begun after the call arrived).</summary>
    public Task<TRecord?> ReadAsync() => Register.ExecuteAsync((r, _) => (r, r));

    public async Task<LockRecord> ReadQueueAsync() => _kind.QueueOf(await ReadAsync());

    /// <summary>
    /// Enqueues (session, request) after its session recorded this grain, and waits, parked on the silo,
    /// up to <paramref name="maxWait"/> for the grant. Returns the grant, or the decision when not granted.
    /// </summary>
    public async Task<(LockGrant? Grant, AcquireDecision Decision)> EnqueueAsync(LockRequest template, AcquireMode mode, TimeSpan maxWait)
    {
        // Nothing is written for a session that is missing or ended: the session check comes first.
        var entry = template with { SessionTtl = await _sessions.AttachAsync(template.SessionId) };
        var decision = await ChangeQueueAsync((q, epoch) =>
        {
            var (next, d) = LockStateMachine.Acquire(q, entry, mode, epoch);
            if (next.Waiters.Count > q.Waiters.Count)
            {
                LockStateMachine.EnsureRoom(q, entry, Name);
            }

            return (next, d);
        });
        if (decision.FinishedAs is { } end)
        {
            throw new RequestFinishedException(Name, entry.RequestId, end.ToString());
        }

        if (decision.Status == AcquireStatus.Granted)
        {
            return (GrantOf(entry, decision), decision);
        }

        if (mode != AcquireMode.Wait || maxWait <= TimeSpan.Zero)
        {
            return (null, decision);
        }

        return await _parked.ParkAsync(entry, maxWait);
    }

    public Task<CancelOutcome> WithdrawAsync(string sessionId, Guid requestId)
    {
        RequestRules.ValidateSession(sessionId);
        RequestRules.ValidateRequestId(requestId);
        return ChangeQueueAsync((q, epoch) => LockStateMachine.Cancel(q, sessionId, requestId, epoch));
    }

    public Task<ReleaseOutcome> ReleaseAsync(string sessionId, Guid requestId, long token)
    {
        RequestRules.ValidateSession(sessionId);
        RequestRules.ValidateRequestId(requestId);
        RequestRules.ValidateToken(token);
        return ChangeQueueAsync((q, epoch) => LockStateMachine.Release(q, Name, sessionId, requestId, token, epoch));
    }

    public Task<RevokeResult> RevokeAsync(string reason) => _revocation.RevokeAsync(reason);

    public Task SessionEndedAsync(string sessionId, SessionStatus how) => _sessions.EndedAsync(sessionId, how);

    /// <summary>Re-reads the register after a failover, which restarts a pending lock-delay in full.</summary>
    public Task RecoverAsync() => _invalidName is null ? Register.ExecuteAsync((s, _) => (s, true)) : Task.CompletedTask;

    /// <summary>The grant a decision describes (built from the request, not from the latest record, which later changes in the same batch may have moved on).</summary>
    private static LockGrant GrantOf(LockRequest entry, AcquireDecision decision) =>
        new(entry.SessionId, entry.RequestId, decision.Token, entry.Owner, entry.LockDelay, entry.SessionTtl, entry.Payload);

    /// <summary>After every committed change: forget ended sessions, wake parked callers, and arm or drop the lock-delay and audit timers.</summary>
    private void OnCommitted(TRecord? record)
    {
        try
        {
            Last = record;
            var queue = _kind.QueueOf(record);
            _sessions.ForgetEnded(queue);
            _parked.Wake(queue);
            _delay.Arm(queue);
            _sessions.ArmAudit(queue);
            Committed?.Invoke(record);
        }
        catch (Exception ex)
        {
            LogObserverFailed(_logger, ex, Name);
        }
    }

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "{Name}: reacting to a committed change failed")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string name);
}
