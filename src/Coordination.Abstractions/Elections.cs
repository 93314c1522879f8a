using System.Collections.Immutable;

namespace Coordination;

/// <summary>What happened to an election at a revision.</summary>
public enum ElectionEventKind
{
    /// <summary>A candidate became leader (a new term).</summary>
    Elected = 0,

    /// <summary>The leader published a new value.</summary>
    Proclaimed = 1,

    /// <summary>Nobody leads (the leader resigned or ended and nobody was waiting).</summary>
    Vacant = 2,

    /// <summary>The observer fell behind the retained history: this is the current state, and events in between are skipped.</summary>
    Resync = 3,
}

/// <summary>The leader of an election.</summary>
/// <param name="SessionTag">The public tag of the leader's session.</param>
/// <param name="CandidateId">The leader's campaign id.</param>
/// <param name="Term">The leader's fencing token: strictly greater than every earlier term, across failovers.</param>
/// <param name="Value">What the leader proclaims (its campaign value until it proclaims another).</param>
[GenerateSerializer, Immutable, Alias("coord.LeaderInfo")]
public sealed record LeaderInfo(string Election, string SessionTag, Guid CandidateId, long Term, string? Value, string? Owner);

/// <summary>One revision of an election, as observers see it: revisions only grow, one per change.</summary>
[GenerateSerializer, Immutable, Alias("coord.ElectionEvent")]
public sealed record ElectionEvent(long Revision, ElectionEventKind Kind, LeaderInfo? Leader);

/// <summary>An election read linearizably: its revision, its leader and the candidates waiting, in order.</summary>
[GenerateSerializer, Immutable, Alias("coord.ElectionState")]
public sealed record ElectionState(string Election, long Revision, LeaderInfo? Leader, ImmutableArray<LockWaiter> Candidates);

/// <summary>A campaign: become leader of the election when every earlier candidate has left. Idempotent per candidate id.</summary>
/// <param name="CandidateId">Made by the client, unique per campaign; a retry reuses it.</param>
/// <param name="Value">Published as the leader's value once elected (at most 4096 UTF-8 bytes).</param>
/// <param name="MaxWait">How long this call may stay parked on the silo; the client calls again with the same id to keep its place.</param>
/// <param name="Sequence">The campaign's number among its session's requests, as <see cref="AcquireRequest.Sequence"/>.</param>
/// <param name="SettledThrough">As <see cref="AcquireRequest.SettledThrough"/>.</param>
[GenerateSerializer, Immutable, Alias("coord.CampaignRequest")]
public sealed record CampaignRequest(string SessionId, Guid CandidateId, string? Value, TimeSpan MaxWait, string? Owner, long Sequence = 0, long SettledThrough = 0);

/// <summary>What a campaign call found: elected (with its term and the revision it became leader at) or still queued.</summary>
[GenerateSerializer, Immutable, Alias("coord.CampaignResult")]
public sealed record CampaignResult(bool Elected, long Term, long Revision, int QueuePosition);

/// <summary>Events after the revision an observer asked from, in order; or a resync with the current state when it fell behind.</summary>
[GenerateSerializer, Immutable, Alias("coord.ObserveResult")]
public sealed record ObserveResult(long Revision, ImmutableArray<ElectionEvent> Events, bool Resync, LeaderInfo? Current);

/// <summary>A leader-only action (proclaim, resign) by a candidate that is not the leader of that term. Nothing was changed.</summary>
[GenerateSerializer]
public sealed class NotLeaderException : CoordinationException
{
    public NotLeaderException(string election, string detail)
        : base($"Not the leader of election '{election}': {detail}. Nothing was changed.")
    {
        Election = election;
    }

    [Id(0)] public string Election { get; }
}

/// <summary>
/// A leader election (etcd's concurrency.Election, Curator's LeaderLatch): candidates queue FIFO behind the
/// leader; the leader's term is its fencing token; every change gets the next revision, which observers
/// follow in order. Every reply follows a majority accept of the election's register.
/// </summary>
[Alias("coord.IElectionGrain")]
public interface IElectionGrain : IGrainWithStringKey
{
    /// <summary>Joins the queue (or keeps waiting) and answers when elected or when the park time ends.</summary>
    [Alias("campaign")]
    Task<CampaignResult> Campaign(CampaignRequest request);

    /// <summary>Withdraws a campaign: leaves the queue, or gives up a leadership that raced the withdrawal. Idempotent.</summary>
    /// <param name="sequence">The campaign's number in its session (<see cref="CampaignRequest.Sequence"/>), so the session lets it go too.</param>
    [Alias("withdraw")]
    Task<CancelOutcome> Withdraw(string sessionId, Guid candidateId, long sequence = 0);

    /// <summary>The leader of <paramref name="term"/> steps down; the next candidate is elected in the same step. Repeating succeeds.</summary>
    [Alias("resign")]
    Task<ReleaseOutcome> Resign(string sessionId, Guid candidateId, long term);

    /// <summary>The leader of <paramref name="term"/> publishes a new value; anyone else gets <see cref="NotLeaderException"/>.</summary>
    [Alias("proclaim")]
    Task<ElectionEvent> Proclaim(string sessionId, Guid candidateId, long term, string? value);

    /// <summary>The current revision, leader and waiting candidates.</summary>
    [Alias("state")]
    Task<ElectionState> GetState();

    /// <summary>Events after <paramref name="afterRevision"/>, waiting (parked, at most <paramref name="maxWait"/>) for the next one if there are none yet.</summary>
    [Alias("observe")]
    Task<ObserveResult> Observe(long afterRevision, TimeSpan maxWait);

    /// <summary>Admin: takes leadership away, bumps the term and tells the leader's session.</summary>
    [Alias("revoke")]
    Task<RevokeResult> Revoke(string reason);
}
