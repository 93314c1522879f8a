using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Values;

/// <summary>
/// The register of one named value, owned by its grain, with the session parts of a lease queue reused around the
/// value's binding (<see cref="ValueRecord.Binding"/>): <see cref="SessionAttachments{TQueue}"/> (an ephemeral write is
/// recorded in its session before it commits, under the promise the register held when the attach began, and the
/// session's end removes the binding, which deletes the value), <see cref="FinishedRequests{TQueue}"/> (a binding that is
/// replaced is let go at its session), <see cref="LockDelayTimer{TQueue}"/> (the value of a session whose state vanished
/// is deleted only when its binding's delay ends) and <see cref="IdleRetirement"/> (a value that stays absent is deleted
/// and its activation goes).
/// </summary>
internal sealed partial class ValueRegister : ILeaseQueue<LockRecord>
{
    private const int MaxWriteAttempts = 8;
    private readonly NamedRegister<ValueRecord> _value;
    private readonly SessionAttachments<LockRecord> _sessions;
    private readonly FinishedRequests<LockRecord> _finished;
    private readonly LockDelayTimer<LockRecord> _delay;
    private readonly IdleRetirement _idle;
    private readonly Func<bool> _watched;
    private readonly ILogger _logger;

    /// <param name="watched">True while watchers use the value: an absent value is not retired under them, so they keep their history.</param>
    public ValueRegister(Grain owner, IGrainFactory grains, RegisterFactory registers, TimeProvider time, CoordinationOptions options, Func<bool> watched, ILogger logger)
    {
        _value = new NamedRegister<ValueRecord>(owner, registers, name => new Holding(HoldingKind.Value, name).RegisterKey, ValueStateMachine.MaxHistory) { Committed = OnCommitted };
        _watched = watched;
        _logger = logger;
        var holding = new Holding(HoldingKind.Value, _value.Name);
        _sessions = new SessionAttachments<LockRecord>(owner, grains, this, holding, options.HolderAuditInterval, logger);
        _finished = new FinishedRequests<LockRecord>(this, owner.GrainContext.ActivationServices.GetRequiredService<SessionDetaches>(), holding, time, logger);
        _delay = new LockDelayTimer<LockRecord>(owner, this, time, logger);
        _idle = new IdleRetirement(owner, RetireAsync, time, IdleRetirement.AtLeastRetrySpan(options.IdleRetention), logger);
    }

    public string Name => _value.Name;

    /// <summary>The last value this activation committed (a cache, never a decision).</summary>
    public ValueRecord? Last { get; private set; }

    public LockRecord CommittedQueue => Last?.Binding ?? LockRecord.Empty;

    /// <summary>Called after every committed change (the grain wakes its watchers).</summary>
    public Action<ValueRecord?>? Committed { get; set; }

    private IRegister<ValueRecord> Register => _value.Register;

    /// <summary>Checks the session of an ephemeral value this activation finds (see <see cref="SessionAttachments{TQueue}"/>).</summary>
    public void Activate()
    {
        if (_value.IsValid)
        {
            _ = _sessions.VerifyAsync();
        }

        _idle.Arm(quiet: true);
    }

    public void ValidateName() => _value.ValidateName();

    public bool IsEndedHere(string sessionId) => _sessions.IsEndedHere(sessionId);

    /// <summary>A read through a majority, begun after the call arrived; an absent register reads as a fresh value above the partition's floor.</summary>
    public Task<ValueRecord> ReadAsync() => Register.ExecuteAsync((r, c) => (r, r ?? ValueRecord.Fresh(c.TokenFloor)));

    public async Task<LockRecord> ReadQueueAsync() => (await ReadAsync()).Binding;

    public Task<T> ChangeQueueAsync<T>(Func<LockRecord, long, (LockRecord Queue, T Result)> change) =>
        Register.ExecuteAsync(InLifecycle((r, c) =>
        {
            var (binding, result) = change(r.Binding, c.TokenEpoch);
            return (ReferenceEquals(binding, r.Binding) ? r : ValueStateMachine.WithBinding(r, binding), result);
        }));

    /// <summary>
    /// Applies a write. An ephemeral one is first attached to its session (taking along the detach of its earlier,
    /// finished bindings here) and commits only under the promise the register held before the attach began, and
    /// only while this activation has not seen the session end; otherwise it goes round again.
    /// </summary>
    public async Task<ValueWriteResult> WriteAsync(ValueWrite write)
    {
        var proposed = new ProposedRevisions(write.RetriedSince);
        if (write.SessionId is not { } session)
        {
            return await Register.ExecuteAsync(InLifecycle((r, c) => ValueStateMachine.Write(r, Name, write, TimeSpan.Zero, c.TokenEpoch, proposed)));
        }

        for (var attempt = 1; ; attempt++)
        {
            var view = await Register.PeekAsync();
            var seen = view.Value?.Binding;
            var finished = _finished.ToDetach(seen, session);
            var entry = new LockRequest(session, write.RequestId, null, TimeSpan.Zero, TimeSpan.Zero, Sequence: write.Sequence);
            var ttl = (await _sessions.AttachAsync(entry, write.SettledThrough, finished, covering: false)).Ttl;
            _finished.Detached(seen, session, finished);
            var result = await Register.ExecuteAsync(InLifecycle<ValueWriteResult?>((r, c) =>
                c.Generation != view.Generation || _sessions.IsEndedHere(session) ? (r, null) : ValueStateMachine.Write(r, Name, write, ttl, c.TokenEpoch, proposed)!));
            if (result is not null)
            {
                return result;
            }

            if (attempt >= MaxWriteAttempts)
            {
                throw new QuorumUnavailableException(Register.Key, 0, 0, "the value kept changing while its write was being attached to its session; retry with the same request id");
            }
        }
    }

    public Task SessionEndedAsync(string sessionId, SessionStatus how) => _sessions.EndedAsync(sessionId, how);

    /// <summary>
    /// Re-reads the value after a failover (or the sweeper's ping of leftovers), which restarts a pending delay in full and
    /// resumes letting go of finished bindings; and, like every change, forgets those their sessions have let go already.
    /// </summary>
    public Task RecoverAsync() => _value.IsValid ? Register.ExecuteAsync(InLifecycle((r, _) => (r, true))) : Task.CompletedTask;

    /// <summary>
    /// A change as the register lifecycle runs it: an absent register is a fresh value, one that comes out with nothing
    /// to remember stays absent (bad input and failed writes create nothing), and bindings their sessions let go are forgotten.
    /// </summary>
    private RegisterChange<ValueRecord, T> InLifecycle<T>(Func<ValueRecord, RegisterContext, (ValueRecord Next, T Result)> change) => (r, c) =>
    {
        var record = r ?? ValueRecord.Fresh(c.TokenFloor);
        var binding = _finished.Apply(record.Binding);
        var (next, result) = change(ReferenceEquals(binding, record.Binding) ? record : record with { Binding = binding }, c);
        return (r is null && next.IsEmpty ? null : next, result);
    };

    /// <summary>Deletes an absent value nobody watches once its bindings are let go; a value that exists is data and stays.</summary>
    private Task<Retirement> RetireAsync() =>
        _value.RetireAsync(r =>
        {
            if (r is null)
            {
                return (null, _watched() ? Retirement.Waiting : Retirement.Gone);
            }

            var binding = _finished.Apply(r.Binding);
            var value = ReferenceEquals(binding, r.Binding) ? r : r with { Binding = binding };
            if (!value.IsQuiet)
            {
                return (r, Retirement.Busy);
            }

            return value.IsEmpty && !_watched() ? (null, Retirement.Gone) : (value, Retirement.Waiting);
        });

    private void OnCommitted(ValueRecord? record)
    {
        try
        {
            Last = record;
            var binding = record?.Binding ?? LockRecord.Empty;
            _finished.LetGo(binding);
            _delay.Arm(binding);
            _idle.Arm(record is null || record.IsQuiet);
            Committed?.Invoke(record);
        }
        catch (Exception ex)
        {
            LogObserverFailed(_logger, ex, Name);
        }
    }

    [LoggerMessage(EventId = 3401, Level = LogLevel.Error, Message = "{Name}: reacting to a committed change of the value failed")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string name);
}
