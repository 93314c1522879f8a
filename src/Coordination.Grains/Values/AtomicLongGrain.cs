using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Values;

/// <summary>
/// One named counter: every operation is one accept of its register. A counter that stays at 0 for
/// <see cref="CoordinationOptions.IdleRetention"/>, and at least <see cref="IdleRetirement.RetrySpan"/>, is deleted
/// (0 is what an absent counter reads) and its activation goes; its revisions live on in the partition's floor. Reentrant, so concurrent operations share
/// rounds; the register still applies them one at a time.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class AtomicLongGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<AtomicLongGrain> logger)
    : Grain, IAtomicLongGrain
{
    private NamedRegister<AtomicLongRecord> _counter = null!;
    private IdleRetirement _idle = null!;

    private IRegister<AtomicLongRecord> Register => _counter.Register;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _counter = new NamedRegister<AtomicLongRecord>(this, registers, RegisterKeys.AtomicLong, AtomicLongStateMachine.MaxRecent);
        _idle = new IdleRetirement(this, () => _counter.RetireAsync(r => r is null || r.Value == 0 ? (null, Retirement.Gone) : (r, Retirement.Busy)), time, IdleRetirement.AtLeastRetrySpan(options.Value.IdleRetention), logger);
        _counter.Committed = r => _idle.Arm(r is null || r.Value == 0);
        _idle.Arm(quiet: true);
        return Task.CompletedTask;
    }

    public Task<AtomicLongResult> Get() =>
        Register.ExecuteAsync((r, c) =>
        {
            var current = r ?? AtomicLongRecord.Fresh(c.TokenFloor);
            return (r, new AtomicLongResult(true, current.Value, current.Revision));
        });

    public Task<AtomicLongResult> Add(Guid requestId, long delta, long? retriedSince = null)
    {
        RequestRules.ValidateRequestId(requestId);
        var proposed = new ProposedRevisions(retriedSince);
        return Change((r, name) => AtomicLongStateMachine.Add(r, name, requestId, delta, proposed));
    }

    public Task<AtomicLongResult> CompareAndSet(Guid requestId, long expected, long value, long? retriedSince = null)
    {
        RequestRules.ValidateRequestId(requestId);
        var proposed = new ProposedRevisions(retriedSince);
        return Change((r, name) => AtomicLongStateMachine.CompareAndSet(r, name, requestId, expected, value, proposed));
    }

    /// <summary>A change of the counter; an absent register is a fresh counter, and one left at 0 that did not exist stays absent.</summary>
    private Task<AtomicLongResult> Change(Func<AtomicLongRecord, string, (AtomicLongRecord Next, AtomicLongResult Result)> change) =>
        Register.ExecuteAsync((r, c) =>
        {
            var current = r ?? AtomicLongRecord.Fresh(c.TokenFloor);
            var (next, result) = change(current, _counter.Name);
            return (r is null && ReferenceEquals(next, current) ? null : next, result);
        });

}
