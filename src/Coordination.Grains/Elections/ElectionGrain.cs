using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Coordination.Grains.Elections;

/// <summary>
/// One election: a lease queue (<see cref="LeaseQueue{TRecord, TQueue}"/>: sessions, FIFO, fencing, parking) whose
/// holder is the leader, with the leader's value, a revision per change and retained history for observers,
/// who are parked until the next revision. An election that has stood vacant (no leader, no candidate) for
/// <see cref="CoordinationOptions.VacantElectionRetention"/> with nobody observing is deleted; its terms and
/// revisions live on in the partition's token floor.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class ElectionGrain(RegisterFactory registers, TimeProvider time, IOptions<CoordinationOptions> options, ILogger<ElectionGrain> logger)
    : Grain, IElectionGrain, IElectionGrainInternal
{
    private static readonly LeaseKind<ElectionRecord, LockRecord> Kind = new(HoldingKind.Election, r => r.Queue, ElectionStateMachine.Normalize, ElectionRecord.Fresh, _ => false);

    private readonly List<(long After, TaskCompletionSource Done)> _observers = [];
    private LeaseQueue<ElectionRecord, LockRecord> _queue = null!;
    private GrantRevocation _revocation = null!;
    private IGrainTimer? _vacancyTimer;

    private string Name => _queue.Name;

    private ElectionRecord? Last => _queue.Last;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _queue = new LeaseQueue<ElectionRecord, LockRecord>(this, GrainFactory, Kind, registers, time, options.Value, logger) { Committed = OnCommitted };
        _revocation = new GrantRevocation(_queue, GrainFactory, logger);
        _queue.Activate();
        return Task.CompletedTask;
    }

    public async Task<CampaignResult> Campaign(CampaignRequest request)
    {
        _queue.ValidateName();
        ArgumentNullException.ThrowIfNull(request);
        RequestRules.ValidateSession(request.SessionId);
        RequestRules.ValidateRequestId(request.CandidateId, "candidateId");
        RequestRules.ValidateSequence(request.Sequence, request.SettledThrough);
        RequestRules.ValidateWait(request.MaxWait);
        RequestRules.ValidateOwner(request.Owner);
        ElectionStateMachine.ValidateValue(request.Value);
        var entry = new LockRequest(request.SessionId, request.CandidateId, request.Owner, TimeSpan.Zero, TimeSpan.Zero, request.Value, request.Sequence);
        var (grant, decision) = await _queue.EnqueueAsync(entry, AcquireMode.Wait, request.MaxWait, request.SettledThrough);
        if (grant is null)
        {
            return new CampaignResult(false, 0, Last?.Revision ?? 0, decision.Position);
        }

        var elected = Last?.History.LastOrDefault(e => e.Kind == ElectionEventKind.Elected && e.Leader?.Token == grant.Token);
        return new CampaignResult(true, grant.Token, elected?.Revision ?? Last?.Revision ?? 0, 0);
    }

    public Task<CancelOutcome> Withdraw(string sessionId, Guid candidateId, long sequence = 0)
    {
        _queue.ValidateName();
        return _queue.WithdrawAsync(sessionId, candidateId, sequence);
    }

    public async Task<ReleaseOutcome> Resign(string sessionId, Guid candidateId, long term)
    {
        _queue.ValidateName();
        try
        {
            return await _queue.ReleaseAsync(sessionId, candidateId, term);
        }
        catch (LockNotHeldException)
        {
            throw new NotLeaderException(Name, $"candidate {candidateId} does not lead with term {term}");
        }
    }

    public async Task<ElectionEvent> Proclaim(string sessionId, Guid candidateId, long term, string? value)
    {
        _queue.ValidateName();
        RequestRules.ValidateSession(sessionId);
        RequestRules.ValidateRequestId(candidateId, "candidateId");
        ElectionStateMachine.ValidateValue(value);
        var record = await _queue.ExecuteAsync((r, _) =>
        {
            var current = r ?? ElectionRecord.Empty;
            var queue = ElectionStateMachine.Proclaim(current.Queue, Name, sessionId, candidateId, term, value);
            var next = ReferenceEquals(queue, current.Queue) ? current : ElectionStateMachine.Normalize(current, queue);
            return (next, next);
        });
        // The event that made the current revision: this proclamation, or (when the value was already the
        // same) whatever set the state this leader's value is part of.
        return record.History.LastOrDefault() is { } last && last.Revision == record.Revision
            ? new ElectionEvent(last.Revision, last.Kind, ElectionStateMachine.Leader(Name, last.Leader))
            : new ElectionEvent(record.Revision, ElectionEventKind.Proclaimed, ElectionStateMachine.Leader(Name, record.Queue.Holder));
    }

    public async Task<ElectionState> GetState()
    {
        _queue.ValidateName();
        return ToState(await _queue.ReadAsync());
    }

    public async Task<WithLease<ElectionState>> GetStateWithLease()
    {
        _queue.ValidateName();
        var r = await _queue.ReadAsync();
        return new(ToState(r), await HolderLease.RemainingAsync(GrainFactory, r.Queue.Holder?.SessionId));
    }

    private ElectionState ToState(ElectionRecord r) => new(Name, r.Revision, ElectionStateMachine.Leader(Name, r.Queue.Holder), [.. r.Queue.Waiters.Select(w => w.ToWaiter())]);

    /// <summary>
    /// Reads through a majority, then answers with what came after <paramref name="afterRevision"/>; if
    /// nothing did, waits (parked) for the next committed revision, whose accept also began after the call.
    /// </summary>
    public async Task<ObserveResult> Observe(long afterRevision, TimeSpan maxWait)
    {
        _queue.ValidateName();
        RequestRules.ValidateWait(maxWait);
        if (afterRevision < 0)
        {
            throw new CoordinationArgumentException(nameof(afterRevision), $"a revision is 0 or more (got {afterRevision})");
        }

        var now = ElectionStateMachine.Observe(await _queue.ReadAsync(), Name, afterRevision);
        if (now.Resync || !now.Events.IsEmpty || maxWait <= TimeSpan.Zero)
        {
            return now;
        }

        if (Last?.Revision > afterRevision)
        {
            // A change committed between the read and this turn: its wake-up has already gone by.
            return ElectionStateMachine.Observe(Last, Name, afterRevision);
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _observers.Add((afterRevision, done));
        try
        {
            await done.Task.WaitAsync(maxWait < options.Value.MaxPark ? maxWait : options.Value.MaxPark, time);
        }
        catch (TimeoutException)
        {
            _observers.Remove((afterRevision, done));
        }

        return ElectionStateMachine.Observe(Last, Name, afterRevision);
    }

    public Task<RevokeResult> Revoke(string reason)
    {
        _queue.ValidateName();
        return _revocation.RevokeAsync(reason);
    }

    public Task OnSessionEnded(string sessionId, SessionStatus how) => _queue.SessionEndedAsync(sessionId, how);

    public Task Recover() => _queue.RecoverAsync();

    /// <summary>After every committed change (and the queue's own reactions): wakes the observers waiting for a later revision, and keeps the vacancy timer.</summary>
    private void OnCommitted(ElectionRecord? record)
    {
        var revision = record?.Revision ?? 0;
        for (var i = _observers.Count - 1; i >= 0; i--)
        {
            if (_observers[i].After < revision)
            {
                _observers[i].Done.TrySetResult();
                _observers.RemoveAt(i);
            }
        }

        var vacant = record is { Queue.IsEmpty: true };
        if (vacant && _vacancyTimer is null)
        {
            var after = options.Value.VacantElectionRetention;
            _vacancyTimer = this.RegisterGrainTimer(_ => DeleteIfVacantAsync(), new GrainTimerCreationOptions(after, after) { KeepAlive = true, Interleave = true });
        }
        else if (!vacant && _vacancyTimer is not null)
        {
            _vacancyTimer.Dispose();
            _vacancyTimer = null;
        }
    }

    /// <summary>Deletes the election if it is still vacant and nobody is waiting on it; otherwise the timer tries again later.</summary>
    private async Task DeleteIfVacantAsync()
    {
        if (_observers.Count > 0)
        {
            return;
        }

        try
        {
            await _queue.ExecuteAsync((r, _) => r is { Queue.IsEmpty: true } ? (null, true) : (r, false));
        }
        catch (CoordinationException)
        {
            // No majority now: the timer comes back.
        }
    }
}
