using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Leases;

/// <summary>
/// What tells one kind of queued lease from another: how sessions name their holdings of it (and so its
/// register key), and where its register value keeps the queue.
/// </summary>
/// <param name="Holding">The kind of holding a session records for it.</param>
/// <param name="QueueOf">The queue inside a register value.</param>
/// <param name="WithQueue">The register value with a new queue in place, plus whatever the kind derives from a change (an election's revision and history).</param>
/// <param name="Fresh">The value of a register that does not exist (never used, or deleted), counting from the partition's token floor.</param>
/// <param name="IsEmpty">True when a value has nothing left to remember: its register is deleted.</param>
internal sealed record LeaseKind<TRecord, TQueue>(HoldingKind Holding, Func<TRecord, TQueue> QueueOf, Func<TRecord, TQueue, TRecord> WithQueue, Func<long, TRecord> Fresh, Func<TRecord, bool> IsEmpty)
    where TRecord : class
    where TQueue : class, ILeaseState<TQueue>;

/// <summary>
/// The queued lease of one lock, election, semaphore or reader-writer lock, owned by its grain: a FIFO queue of
/// (session, request) entries kept in a replicated register (<see cref="LockRecord"/>, <see cref="SharedLockRecord"/>),
/// whose grants are tied to their sessions, with fencing tokens. The grain is the register's proposer and is reentrant, so parked waiters never block
/// releases; every change still goes one accept at a time through the proposer, and memory holds only caches.
/// </summary>
/// <remarks>
/// It composes one part per mechanism, each driving any kind of queue state through <see cref="ILeaseState{TSelf}"/>:
/// <see cref="RequestRules"/> (input), <see cref="ParkedWaiters{TQueue}"/>,
/// <see cref="SessionAttachments{TQueue}"/> (which owns the rule that no grant outlives its session),
/// <see cref="FinishedRequests{TQueue}"/>, <see cref="LockDelayTimer{TQueue}"/> and <see cref="IdleRetirement"/>;
/// locks and elections add <see cref="GrantRevocation"/>.
/// The register exists only while the queue has something to remember: an absent register is a fresh
/// queue counting its tokens from the partition's token floor, and an empty one is deleted.
/// </remarks>
/// <typeparam name="TRecord">The register value: the queue itself, or a record that contains it.</typeparam>
/// <typeparam name="TQueue">The queue state.</typeparam>
internal sealed partial class LeaseQueue<TRecord, TQueue> : ILeaseQueue<TQueue>
    where TRecord : class
    where TQueue : class, ILeaseState<TQueue>
{
    private const int MaxEnqueueAttempts = 8;
    private readonly LeaseKind<TRecord, TQueue> _kind;
    private readonly string? _invalidName;
    private readonly IRegister<TRecord>? _register;
    private readonly ParkedWaiters<TQueue> _parked;
    private readonly SessionAttachments<TQueue> _sessions;
    private readonly FinishedRequests<TQueue> _finished;
    private readonly LockDelayTimer<TQueue> _delay;
    private readonly IdleRetirement _idle;
    private readonly ILogger _logger;
    private readonly bool _covers;

    /// <summary>Builds the queue of the grain <paramref name="owner"/>, named by its key; call from its activation.</summary>
    public LeaseQueue(Grain owner, IGrainFactory grains, LeaseKind<TRecord, TQueue> kind, RegisterFactory registers, TimeProvider time, CoordinationOptions options, ILogger logger)
    {
        _kind = kind;
        _logger = logger;
        _covers = options.CoveredAcquires;
        Name = owner.GetPrimaryKeyString();
        _invalidName = Names.Check(Name);
        var holding = new Holding(kind.Holding, Name);
        _parked = new ParkedWaiters<TQueue>(this, time, options.MaxPark);
        _sessions = new SessionAttachments<TQueue>(owner, grains, this, holding, options.HolderAuditInterval, logger);
        _finished = new FinishedRequests<TQueue>(this, owner.GrainContext.ActivationServices.GetRequiredService<SessionDetaches>(), holding, time, logger);
        _delay = new LockDelayTimer<TQueue>(owner, this, time, logger);
        _idle = new IdleRetirement(owner, RetireAsync, time, options.IdleRetention, logger);
        if (_invalidName is null)
        {
            _register = registers.Create<TRecord>(holding.RegisterKey);
            _register.Committed = OnCommitted;
        }
    }

    public string Name { get; }

    /// <summary>The last value this activation committed.</summary>
    public TRecord? Last { get; private set; }

    public TQueue CommittedQueue => Last is null ? TQueue.Empty : _kind.QueueOf(Last);

    /// <summary>Called after every committed change, after the queue's own reactions (an election wakes its observers).</summary>
    public Action<TRecord?>? Committed { get; set; }

    /// <summary>A name that broke the rules is refused at every call; no register is ever made for it.</summary>
    private IRegister<TRecord> Register => _register ?? throw new InvalidNameException("name", _invalidName!);

    /// <summary>Starts the check of the sessions the register names (see <see cref="SessionAttachments{TQueue}"/>).</summary>
    public void Activate()
    {
        if (_invalidName is null)
        {
            _ = _sessions.VerifyAsync();
        }

        _idle.Arm(quiet: true);
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

    public Task<T> ChangeQueueAsync<T>(Func<TQueue, long, (TQueue Queue, T Result)> change) =>
        Register.ExecuteAsync(InLifecycle((queue, context) => change(queue, context.TokenEpoch)));

    /// <summary>
    /// A read through a majority, begun after the call arrived: an accept of the unchanged value, or for a queue
    /// whose register does not exist a prepare that found nothing (which writes nothing). An absent register
    /// reads as a fresh value above the partition's token floor.
    /// </summary>
    public Task<TRecord> ReadAsync() => Register.ExecuteAsync((r, c) => (r, r ?? _kind.Fresh(c.TokenFloor)));

    public async Task<TQueue> ReadQueueAsync() => _kind.QueueOf(await ReadAsync());

    public Task<CancelOutcome> WithdrawAsync(string sessionId, Guid requestId, long sequence)
    {
        RequestRules.ValidateSession(sessionId);
        RequestRules.ValidateRequestId(requestId);
        if (sequence < 0)
        {
            throw new CoordinationArgumentException("sequence", $"a request's number is 0 (unknown) or more (got {sequence})");
        }

        return ChangeQueueAsync((q, epoch) => TQueue.Cancel(q, sessionId, requestId, epoch, sequence));
    }

    public Task<ReleaseOutcome> ReleaseAsync(string sessionId, Guid requestId, long token)
    {
        RequestRules.ValidateSession(sessionId);
        RequestRules.ValidateRequestId(requestId);
        RequestRules.ValidateToken(token);
        return ChangeQueueAsync((q, epoch) => TQueue.Release(q, Name, sessionId, requestId, token, epoch));
    }

    public Task SessionEndedAsync(string sessionId, SessionStatus how) => _sessions.EndedAsync(sessionId, how);

    public bool IsEndedHere(string sessionId) => _sessions.IsEndedHere(sessionId);

    /// <summary>
    /// Re-reads the register after a failover (or the sweeper's ping of leftovers), which restarts a pending lock-delay in
    /// full and resumes letting go of finished requests; and, like every change, forgets those their sessions have let go
    /// already, so a lock held for long, with nothing else committing, does not keep its earlier holders' requests.
    /// </summary>
    public Task RecoverAsync() => _invalidName is null ? Register.ExecuteAsync(InLifecycle((q, _) => (q, true))) : Task.CompletedTask;

    /// <summary>
    /// Retires a quiet queue in one round: forgets the finished requests its sessions have let go, and deletes the
    /// register if nothing is left to remember (an absent register is read without writing anything).
    /// </summary>
    private Task<Retirement> RetireAsync() =>
        _invalidName is not null ? Task.FromResult(Retirement.Gone) : Register.ExecuteAsync<Retirement>((r, _) =>
        {
            if (r is null)
            {
                return (null, Retirement.Gone);
            }

            var queue = _kind.QueueOf(r);
            var forgotten = _finished.Apply(queue);
            if (!forgotten.IsIdle)
            {
                return (r, Retirement.Busy);
            }

            // Nothing rides on a quiet queue's covers any more: they retire (see SessionCovers).
            forgotten = SessionCovers.Retire(forgotten);
            var value = ReferenceEquals(forgotten, queue) ? r : _kind.WithQueue(r, forgotten);
            return _kind.IsEmpty(value) ? (null, Retirement.Gone) : (value, Retirement.Waiting);
        });

    /// <summary>The grant a decision describes (built from the request, not from the latest record, which later changes in the same batch may have moved on).</summary>
    private static LockGrant GrantOf(LockRequest entry, AcquireDecision decision) => entry.ToGrant(decision.Token);

    private static bool Knows(TQueue queue, LockRequest entry) =>
        queue.GrantOf(entry.SessionId, entry.RequestId) is not null
        || queue.PositionOf(entry.SessionId, entry.RequestId) >= 0
        || FinishedLog.Find(queue.Finished, entry.SessionId, entry.RequestId) is not null;

    /// <summary>
    /// A queue change as the register lifecycle runs it: an absent register is the kind's fresh value, and one
    /// that would come out with nothing to remember stays absent (bad input creates nothing); finished requests
    /// their sessions have let go are forgotten on the way. A register that empties stays until its queue retires
    /// (<see cref="IdleRetirement"/>), so a lock in use is not deleted and created again between uses.
    /// </summary>
    private RegisterChange<TRecord, T> InLifecycle<T>(Func<TQueue, RegisterContext, (TQueue Queue, T Result)> change) => (r, c) =>
    {
        var record = r ?? _kind.Fresh(c.TokenFloor);
        var queue = _kind.QueueOf(record);
        var (next, result) = change(_finished.Apply(queue), c);
        if (ReferenceEquals(next, queue))
        {
            return (r, result);
        }

        next = SessionCovers.Maintain(next);

        var value = _kind.WithQueue(record, next);
        return (r is null && _kind.IsEmpty(value) ? null : value, result);
    };

    /// <summary>After every committed change: wake parked callers, let finished requests go, and arm or drop the lock-delay and audit timers.</summary>
    private void OnCommitted(TRecord? record)
    {
        try
        {
            Last = record;
            var queue = record is null ? TQueue.Empty : _kind.QueueOf(record);
            _parked.Wake(queue);
            _finished.LetGo(queue);
            _delay.Arm(queue);
            _sessions.ArmAudit(queue);
            _idle.Arm(queue.IsIdle);
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
