using System.Runtime.CompilerServices;

namespace Coordination.Client;

/// <summary>
/// A leader election (etcd's concurrency.Election, Curator's LeaderLatch/LeaderSelector): campaign to
/// lead, read the leader, observe every change in order. The leader's term is a fencing token.
/// </summary>
public sealed class CoordinationElection
{
    private readonly Func<CancellationToken, ValueTask<CoordinationSession>> _session;
    private readonly IGrainFactory _grains;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ClusterChangeSignal _changes;
    private readonly ClientMetrics _metrics;

    internal CoordinationElection(string name, Func<CancellationToken, ValueTask<CoordinationSession>> session, IGrainFactory grains, CoordinationClientOptions options, TimeProvider time, ClusterChangeSignal changes, ClientMetrics? metrics = null)
    {
        _metrics = metrics ?? ClientMetrics.Shared;
        Name = name;
        _session = session;
        _grains = grains;
        _options = options;
        _time = time;
        _changes = changes;
    }

    public string Name { get; }

    private IElectionGrain Grain => _grains.Reference<IElectionGrain>(Name);

    /// <summary>
    /// Waits (parked on the silo, FIFO behind earlier candidates) until this client leads, then returns
    /// its leadership. Cancelling withdraws the campaign (and gives up a leadership that raced it).
    /// </summary>
    public async Task<CoordinationLeadership> CampaignAsync(string? value = null, CancellationToken cancellationToken = default) =>
        (await _metrics.MeasureAsync(ClientMetrics.Tags.Election, _time, () => CampaignUnmeasuredAsync(value, cancellationToken), cancellationToken))!;

    private async Task<CoordinationLeadership?> CampaignUnmeasuredAsync(string? value, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var session = await _session(cancellationToken);
        var candidateId = Guid.NewGuid();
        var grain = Grain;
        var request = new ParkedRequest<CampaignResult, CoordinationLeadership>(
            $"campaign in '{Name}'",
            ClientMetrics.Tags.Election,
            attempt => grain.Campaign(new CampaignRequest(session.Id, candidateId, value, attempt.Park, _options.Owner, attempt.Sequence, attempt.SettledThrough)),
            result => result.Elected ? ParkedReply.Granted : ParkedReply.Queued,
            result => new CoordinationLeadership(this, grain, session, candidateId, result.Term, value, _options, _time),
            sequence => grain.Withdraw(session.Id, candidateId, sequence));

        // Waits without a deadline, so it ends only in leadership, a lost session, a non-transient error or cancellation.
        return await ParkedCallLoop.RunAsync(session, request, AcquireMode.Wait, Deadline.Infinite(_time), _options, _time, cancellationToken);
    }

    /// <summary>The current leader, read through a majority of the election's replicas (null when nobody leads).</summary>
    public async Task<LeaderInfo?> GetLeaderAsync(CancellationToken cancellationToken = default) =>
        (await GetStateAsync(cancellationToken)).Leader;

    /// <summary>The revision, leader and waiting candidates.</summary>
    public Task<ElectionState> GetStateAsync(CancellationToken cancellationToken = default) =>
        Retry.UntilAsync(() => Grain.GetState(), _options, _time, cancellationToken);

    /// <summary>
    /// Every change after <paramref name="afterRevision"/>, in revision order, without polling (each call
    /// waits on the silo for the next revision). Resumable: pass the last revision seen. An observer that
    /// fell behind the retained history gets a <see cref="ElectionEventKind.Resync"/> event with the
    /// current state, never a stale state after a newer one. Failovers are retried transparently.
    /// </summary>
    public async IAsyncEnumerable<ElectionEvent> ObserveAsync(long afterRevision = 0, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var seen = afterRevision;
        while (!cancellationToken.IsCancellationRequested)
        {
            // Asked again through failovers with backoff, and at once when a gateway is lost (its silo may have died).
            var after = seen;
            var result = (await ParkedReads.CallAsync($"observe of '{Name}'", park => Grain.Observe(after, park), _changes, Deadline.Infinite(_time), _options, _time, cancellationToken))!;

            if (result.Resync)
            {
                seen = result.Revision;
                yield return new ElectionEvent(result.Revision, ElectionEventKind.Resync, result.Current);
                continue;
            }

            foreach (var e in result.Events)
            {
                if (e.Revision > seen)
                {
                    seen = e.Revision;
                    yield return e;
                }
            }
        }
    }
}

/// <summary>
/// This client's leadership of an election. <see cref="Term"/> is a fencing token: pass it to what the
/// leader controls. <see cref="LeadershipLostToken"/> fires when the session is lost (by the client
/// deadline, before anyone else can be elected) or an operator revokes the leadership. Disposing resigns.
/// </summary>
public sealed class CoordinationLeadership : CoordinationGrant, IAsyncDisposable
{
    private readonly IElectionGrain _grain;
    private readonly CoordinationClientOptions _options;
    private readonly TimeProvider _time;

    internal CoordinationLeadership(CoordinationElection election, IElectionGrain grain, CoordinationSession session, Guid candidateId, long term, string? value, CoordinationClientOptions options, TimeProvider time)
        : base(session, election.Name, candidateId, term)
    {
        _grain = grain;
        _options = options;
        _time = time;
        Value = value;
    }

    public string Election => GrantName;

    public Guid CandidateId => GrantId;

    /// <summary>Strictly greater than the term of every earlier leader of this election.</summary>
    public long Term => GrantToken;

    /// <summary>The value this leader last proclaimed.</summary>
    public string? Value { get; private set; }

    /// <summary>Fires when leadership may be lost: session lost (client deadline, expiry, close) or revoked.</summary>
    public CancellationToken LeadershipLostToken => LostToken;

    /// <summary>Publishes a new value as the leader of this term; <see cref="NotLeaderException"/> if this term is over.</summary>
    public async Task<ElectionEvent> ProclaimAsync(string? value, CancellationToken cancellationToken = default)
    {
        var result = await Retry.UntilAsync(() => _grain.Proclaim(Session.Id, CandidateId, Term, value), _options, _time, cancellationToken);
        Value = value;
        return result;
    }

    /// <summary>
    /// Steps down; the next candidate is elected at once. Idempotent. If the cluster cannot be reached within
    /// the cleanup budget, it keeps resigning in the background (or the session's end does it).
    /// </summary>
    public async Task ResignAsync()
    {
        try
        {
            await EndAsync(() => _grain.Resign(Session.Id, CandidateId, Term));
        }
        catch (NotLeaderException)
        {
            // Already over: revoked meanwhile.
        }
    }

    public async ValueTask DisposeAsync() => await ResignAsync();

    private protected override Task Abandon() => _grain.Resign(Session.Id, CandidateId, Term);
}
