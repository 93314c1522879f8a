using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Values;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Latches;

/// <summary>
/// One countdown latch. Waiters are parked on the silo until a committed count-down brings the count to zero
/// (never polled); each parks at most <see cref="CoordinationOptions.MaxPark"/> and the client calls again, so a
/// failover only costs a re-issued call. A released latch retires after
/// <see cref="CoordinationOptions.ReleasedLatchRetention"/> without use; one that is counting is kept.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class LatchGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<LatchGrain> logger)
    : Grain, ILatchGrain, ILatchGrainInternal
{
    private readonly List<TaskCompletionSource> _waiters = [];
    private NamedRegister<LatchRecord> _latch = null!;
    private IdleRetirement _idle = null!;

    private IRegister<LatchRecord> Register => _latch.Register;

    private string Name => _latch.Name;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _latch = new NamedRegister<LatchRecord>(this, registers, RegisterKeys.Latch, LatchStateMachine.MaxRecent);
        _idle = new IdleRetirement(this, RetireAsync, time, options.Value.ReleasedLatchRetention, logger);
        _latch.Committed = OnCommitted;
        return Task.CompletedTask;
    }

    public Task<LatchState> CountDown(Guid requestId, int initialCount, long? retriedSince = null)
    {
        RequestRules.ValidateRequestId(requestId);
        LatchStateMachine.ValidateCount(initialCount);
        _idle.Arm(quiet: false);
        var proposed = new ProposedRevisions(retriedSince);
        return Register.ExecuteAsync((r, _) => LatchStateMachine.CountDown(r, Name, requestId, initialCount, proposed));
    }

    /// <summary>Reads through a majority; if the count is not zero, waits (parked) for the committed count-down that makes it zero.</summary>
    public async Task<LatchState> Wait(int initialCount, TimeSpan maxWait)
    {
        LatchStateMachine.ValidateCount(initialCount);
        RequestRules.ValidateWait(maxWait);
        _idle.Arm(quiet: false);
        var state = await Register.ExecuteAsync((r, _) => (r, LatchStateMachine.State(r, Name, initialCount)));
        if (state.IsReleased || maxWait <= TimeSpan.Zero)
        {
            return state;
        }

        if (Register.CachedValue is { Count: 0 } released)
        {
            // Released between the read and this turn: its wake-up has already gone by.
            return LatchStateMachine.State(released, Name, initialCount);
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add(done);
        try
        {
            await done.Task.WaitAsync(maxWait < options.Value.MaxPark ? maxWait : options.Value.MaxPark, time);
        }
        catch (TimeoutException)
        {
            _waiters.Remove(done);
            return state;
        }

        return new LatchState(Name, state.InitialCount, 0);
    }

    /// <summary>An operator's read: not a use, so it does not hold a released latch back from retiring.</summary>
    public Task<LatchState?> GetState() =>
        Register.ExecuteAsync((r, _) => (r, r is null ? null : new LatchState(Name, r.Initial, r.Count)));

    private void OnCommitted(LatchRecord? record)
    {
        var released = record is { Count: 0 };
        if (released)
        {
            foreach (var waiter in _waiters)
            {
                waiter.TrySetResult();
            }

            _waiters.Clear();
        }

        // Only a released latch retires, counted from its last use (a count-down or a wait, which stop the clock when
        // they arrive): one still counting is what its users wait on. A listing's read starts the clock if none runs.
        _idle.Arm(quiet: released);
    }

    private Task<Retirement> RetireAsync() =>
        _latch.RetireAsync(r => r is null || (r.Count == 0 && _waiters.Count == 0) ? (null, Retirement.Gone) : (r, Retirement.Busy));
}
