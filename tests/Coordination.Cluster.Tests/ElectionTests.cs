using System.Collections.Concurrent;
using System.Diagnostics;
using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coordination.Cluster.Tests;

/// <summary>Leader elections on a 4-silo cluster: one leader at a time, fenced terms, failover, observers, resign, bad input.</summary>
public sealed class ElectionTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private static string NewElection() => $"election/{Guid.NewGuid():N}";

    private sealed record Term(string Candidate, long Token, long Elected, long Ended);

    /// <summary>No two leaders' terms overlap (each leader counts itself leader from election to resignation), and terms only grow.</summary>
    private static List<string> Check(IEnumerable<Term> terms)
    {
        var violations = new List<string>();
        var ordered = terms.OrderBy(t => t.Elected).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Elected < ordered[i - 1].Ended)
            {
                violations.Add($"{ordered[i].Candidate} was elected (term {ordered[i].Token}) while {ordered[i - 1].Candidate} still led (term {ordered[i - 1].Token})");
            }

            if (ordered[i].Token <= ordered[i - 1].Token)
            {
                violations.Add($"term went backwards: {ordered[i].Token} after {ordered[i - 1].Token}");
            }
        }

        return violations;
    }

    [Fact]
    public async Task Five_candidates_never_lead_at_once_terms_grow_and_observers_see_every_change_in_order()
    {
        var name = NewElection();
        var clients = Enumerable.Range(0, 5).Select(_ => Cluster.NewClient()).ToList();
        var terms = new ConcurrentBag<Term>();
        using var stopObserving = new CancellationTokenSource();
        var observed = new List<ElectionEvent>();
        var observer = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in Cluster.NewClient().CreateElection(name).ObserveAsync(0, stopObserving.Token))
                {
                    observed.Add(e);
                }
            }
            catch (OperationCanceledException)
            {
                // Done.
            }
        });

        await Task.WhenAll(clients.Select((c, i) => Task.Run(async () =>
        {
            for (var round = 0; round < 4; round++)
            {
                await using var leadership = await c.CreateElection(name).CampaignAsync($"candidate-{i}");
                var elected = Stopwatch.GetTimestamp();
                await Task.Yield();
                var ended = Stopwatch.GetTimestamp();
                terms.Add(new Term($"candidate-{i}", leadership.Term, elected, ended));
            }
        })));

        var state = await clients[0].CreateElection(name).GetStateAsync();
        await Eventually.Async(() => observed.Count > 0 && observed[^1].Revision == state.Revision, TimeSpan.FromSeconds(10), $"the observer to reach revision {state.Revision}");
        await stopObserving.CancelAsync();
        await observer;

        Assert.Empty(Check(terms));
        Assert.Equal(20, terms.Count);
        Assert.Equal(Enumerable.Range(1, (int)state.Revision).Select(r => (long)r), observed.Select(e => e.Revision));
        var electedTerms = observed.Where(e => e.Kind == ElectionEventKind.Elected).Select(e => e.Leader!.Term).ToList();
        Assert.Equal(terms.Select(t => t.Token).Order(), electedTerms);
        Assert.Null(state.Leader);
    }

    [Fact]
    public async Task Resign_hands_leadership_to_the_next_candidate_at_once_and_the_term_is_a_fencing_token()
    {
        var name = NewElection();
        var a = Cluster.NewClient();
        var b = Cluster.NewClient();
        var leaderA = await a.CreateElection(name).CampaignAsync("a");
        var waitB = b.CreateElection(name).CampaignAsync("b");
        await Eventually.Async(async () => (await a.CreateElection(name).GetStateAsync()).Candidates.Length == 1, TimeSpan.FromSeconds(10), "b queued");

        var watch = Stopwatch.StartNew();
        await leaderA.ResignAsync();
        await using var leaderB = await waitB;
        Assert.True(watch.Elapsed < CoordinationCluster.Ttl, $"the hand-over took {watch.Elapsed}");
        Assert.True(leaderB.Term > leaderA.Term);
        var leader = await b.CreateElection(name).GetLeaderAsync();
        Assert.Equal((leaderB.Term, "b"), (leader!.Term, leader.Value));
    }

    [Fact]
    public async Task Proclaim_publishes_a_new_value_and_a_non_leader_gets_a_typed_error_that_changes_nothing()
    {
        var name = NewElection();
        var a = Cluster.NewClient();
        await using var leader = await a.CreateElection(name).CampaignAsync("v1");
        var proclaimed = await leader.ProclaimAsync("v2");
        Assert.Equal(ElectionEventKind.Proclaimed, proclaimed.Kind);
        Assert.Equal("v2", (await a.CreateElection(name).GetLeaderAsync())!.Value);

        var grain = Cluster.Grains.GetGrain<IElectionGrain>(name);
        var before = await grain.GetState();
        await using var other = await TestSession.OpenAsync(Cluster.Grains);
        await Assert.ThrowsAsync<NotLeaderException>(() => grain.Proclaim(other.Id, leader.CandidateId, leader.Term, "hijack"));
        await Assert.ThrowsAsync<NotLeaderException>(() => grain.Resign(other.Id, Guid.NewGuid(), leader.Term));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => grain.Proclaim(other.Id, leader.CandidateId, leader.Term, new string('x', 5000)));
        await Assert.ThrowsAsync<InvalidNameException>(() => Cluster.Grains.GetGrain<IElectionGrain>("bad\u0001name").GetState());
        Assert.Equal(before, await grain.GetState());
    }

    [Fact]
    public async Task A_dead_leaders_client_is_replaced_within_ttl_and_a_bound_and_never_early()
    {
        var name = NewElection();
        var dead = await TestSession.OpenAsync(Cluster.Grains);
        var elected = await Cluster.Grains.GetGrain<IElectionGrain>(name).Campaign(new CampaignRequest(dead.Id, Guid.NewGuid(), "dead", TimeSpan.Zero, null));
        Assert.True(elected.Elected);
        var waiting = Cluster.NewClient().CreateElection(name).CampaignAsync("next");
        await Eventually.Async(async () => (await Cluster.Grains.GetGrain<IElectionGrain>(name).GetState()).Candidates.Length == 1, TimeSpan.FromSeconds(10), "the next candidate queued");

        await dead.StopKeepAliveAsync();
        var lastSend = dead.LastAckedSend;
        await using var next = await waiting;
        var after = DateTime.UtcNow - lastSend;
        Assert.True(after >= CoordinationCluster.Ttl, $"replaced {after} after the last keepalive: earlier than the TTL");
        Assert.True(after < CoordinationCluster.Ttl + TimeSpan.FromSeconds(2), $"replaced {after} after the last keepalive: later than TTL + 2 s");
        Assert.True(next.Term > elected.Term);
    }

    [Fact]
    public async Task An_observer_that_resumes_from_a_revision_gets_exactly_what_came_after()
    {
        var name = NewElection();
        var c = Cluster.NewClient();
        var election = c.CreateElection(name);
        for (var i = 0; i < 3; i++)
        {
            await using var l = await election.CampaignAsync($"v{i}");
            await l.ProclaimAsync($"v{i}-updated");
        }

        var state = await election.GetStateAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var resumed = new List<ElectionEvent>();
        await foreach (var e in election.ObserveAsync(state.Revision - 4, cts.Token))
        {
            resumed.Add(e);
            if (e.Revision == state.Revision)
            {
                break;
            }
        }

        Assert.Equal([state.Revision - 3, state.Revision - 2, state.Revision - 1, state.Revision], resumed.Select(e => e.Revision));
        Assert.Equal(ElectionEventKind.Vacant, resumed[^1].Kind);
    }

    [Fact]
    public async Task A_leader_only_service_runs_exactly_while_its_instance_leads()
    {
        var name = NewElection();
        var hosts = new List<IHost>();
        var running = new ConcurrentDictionary<int, long>();
        for (var i = 0; i < 2; i++)
        {
            var builder = Host.CreateApplicationBuilder();
            var id = i;
            builder.Services.AddSingleton<IGrainFactory>(Cluster.Grains);
            builder.Services.AddCoordinationClient(o =>
            {
                o.SessionTtl = CoordinationCluster.Ttl;
                o.DeadlineMargin = TimeSpan.FromMilliseconds(200);
                o.MaxPark = TimeSpan.FromSeconds(2);
            });
            builder.Services.AddSingleton(new LeaderProbe(id, running));
            builder.Services.AddLeaderService<LeaderOnlyWork>(name);
            var host = builder.Build();
            await host.StartAsync();
            hosts.Add(host);
        }

        await Eventually.Async(() => running.Count == 1, TimeSpan.FromSeconds(20), "exactly one instance running the leader-only service");
        var first = running.Keys.Single();
        await hosts[first].StopAsync();
        await Eventually.Async(() => running.Count == 1 && !running.ContainsKey(first), TimeSpan.FromSeconds(20), "the other instance taking over the service");
        foreach (var host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }
    }

    private sealed record LeaderProbe(int Instance, ConcurrentDictionary<int, long> Running);

    private sealed class LeaderOnlyWork(LeaderProbe probe, CoordinationLeadership leadership) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            probe.Running[probe.Instance] = leadership.Term;
            Assert.True(probe.Running.Count == 1, "two leader-only services ran at once");
            try
            {
                await Task.Delay(Timeout.Infinite, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                probe.Running.TryRemove(probe.Instance, out _);
            }
        }
    }
}
