using System.Collections.Concurrent;
using System.Diagnostics;
using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
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
        var observed = new ConcurrentQueue<ElectionEvent>();
        var observer = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in Cluster.NewClient().CreateElection(name).ObserveAsync(0, stopObserving.Token))
                {
                    observed.Enqueue(e);
                }
            }
            catch (OperationCanceledException)
            {
                // Done.
            }
        });

        var leading = 0;
        var overlaps = 0;
        await Task.WhenAll(clients.Select((c, i) => Task.Run(async () =>
        {
            for (var round = 0; round < 4; round++)
            {
                await using var leadership = await c.CreateElection(name).CampaignAsync($"candidate-{i}");
                var elected = Stopwatch.GetTimestamp();
                if (Interlocked.Increment(ref leading) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                // Act as leader for a while, so an overlapping term would have room to show.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 20)));
                Interlocked.Decrement(ref leading);
                terms.Add(new Term($"candidate-{i}", leadership.Term, elected, Stopwatch.GetTimestamp()));
            }
        })));

        var state = await clients[0].CreateElection(name).GetStateAsync();
        await Eventually.Async(() => observed.LastOrDefault()?.Revision == state.Revision, TimeSpan.FromSeconds(10), $"the observer to reach revision {state.Revision}");
        await stopObserving.CancelAsync();
        await observer;

        Assert.Equal(0, overlaps);
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
        var elected = await Cluster.Grains.GetGrain<IElectionGrain>(name).Campaign(new CampaignRequest(dead.Id, Guid.NewGuid(), "dead", TimeSpan.Zero, null, Sequence: RequestNumbers.Of(dead.Id, Guid.NewGuid())));
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
    public async Task Cancelling_a_campaign_leaves_no_candidate_behind()
    {
        var name = NewElection();
        var a = Cluster.NewClient();
        await using var leader = await a.CreateElection(name).CampaignAsync("a");
        using var cancel = new CancellationTokenSource();
        var waiting = Cluster.NewClient().CreateElection(name).CampaignAsync("b", cancel.Token);
        await Eventually.Async(async () => (await a.CreateElection(name).GetStateAsync()).Candidates.Length == 1, TimeSpan.FromSeconds(10), "b queued");

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Empty((await a.CreateElection(name).GetStateAsync()).Candidates);
        await leader.ResignAsync();
        Assert.Null(await a.CreateElection(name).GetLeaderAsync());
    }

    [Fact]
    public async Task Revoking_the_leader_tells_it_first_then_elects_the_next_candidate_with_a_higher_term()
    {
        var name = NewElection();
        var a = Cluster.NewClient();
        var leader = await a.CreateElection(name).CampaignAsync("a");
        var waiting = Cluster.NewClient().CreateElection(name).CampaignAsync("b");
        await Eventually.Async(async () => (await a.CreateElection(name).GetStateAsync()).Candidates.Length == 1, TimeSpan.FromSeconds(10), "b queued");

        var lostAt = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        leader.LeadershipLostToken.Register(() => lostAt = clock.Elapsed);
        var result = await Cluster.Grains.GetGrain<IElectionGrain>(name).Revoke("operator says so");
        Assert.Equal(leader.Term, result.Revoked!.FencingToken);
        await using var next = await waiting;
        var electedAt = clock.Elapsed;
        Assert.True(leader.IsLost, "the old leader's leadership-lost token has not fired");
        Assert.True(lostAt < electedAt, $"the old leader heard at {lostAt}, after the next was elected at {electedAt}");
        Assert.Equal("operator says so", leader.RevokedReason);
        Assert.True(next.Term > result.LastFencingToken);
        await leader.ResignAsync();
    }

    [Fact]
    public async Task A_leader_only_service_runs_exactly_while_its_instance_leads()
    {
        var name = NewElection();
        var hosts = new List<IHost>();
        var probe = new LeaderProbe();
        for (var i = 0; i < 2; i++)
        {
            hosts.Add(await StartHostAsync(i, probe, services => services.AddLeaderService<LeaderOnlyWork>(name)));
        }

        await Eventually.Async(() => probe.Running.ContainsKey(name), TimeSpan.FromSeconds(20), "an instance running the leader-only service");
        var first = probe.Running[name];
        await hosts[first].StopAsync();
        await Eventually.Async(() => probe.Overlaps > 0 || (probe.Running.TryGetValue(name, out var now) && now != first), TimeSpan.FromSeconds(20), "the other instance taking over the service");
        Assert.True(probe.Overlaps == 0, "the next instance started the leader-only service while the stopping one still ran it");
        foreach (var host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }

        Assert.Equal(0, probe.Overlaps);
    }

    [Fact]
    public async Task A_failing_leader_only_service_is_stopped_its_leadership_resigned_and_the_instance_campaigns_again()
    {
        var first = NewElection();
        var second = NewElection();
        var probe = new LeaderProbe { FailFirstRun = true };
        using var host = await StartHostAsync(0, probe, services => services.AddLeaderService<LeaderOnlyWork>(first).AddLeaderService<LeaderOnlyWork>(second));

        // Both registrations run (one per election), and the run that failed was followed by a new term.
        await Eventually.Async(() => probe.Running.Count == 2 && probe.Terms.Count == 3, TimeSpan.FromSeconds(20), "a failed run, then both elections' services running");
        var leaders = await Task.WhenAll(new[] { first, second }.Select(n => Cluster.NewClient().CreateElection(n).GetLeaderAsync()));
        Assert.All(leaders, Assert.NotNull);
        Assert.Equal(probe.Terms.Count, probe.Terms.Distinct().Count());
        var failed = probe.FailedRun!.Value;
        Assert.Contains(probe.Terms, t => t.Election == failed.Election && t.Term > failed.Term);
        await host.StopAsync();
        Assert.Empty(probe.Running);
        Assert.All(await Task.WhenAll(new[] { first, second }.Select(n => Cluster.NewClient().CreateElection(n).GetLeaderAsync())), Assert.Null);
    }

    /// <summary>A one-shot job run as the only candidate: its work ends at once, and it must not be run again back to back.</summary>
    [Fact]
    public async Task A_leader_only_service_whose_work_ends_is_started_again_no_sooner_than_a_second_later()
    {
        var name = NewElection();
        var probe = new LeaderProbe();
        using var host = await StartHostAsync(0, probe, services => services.AddLeaderService<OneShotWork>(name));

        await Eventually.Async(() => probe.Terms.Count >= 3, TimeSpan.FromSeconds(30), "the one-shot service run in three terms");
        await host.StopAsync();
        var starts = probe.Starts.ToList();
        var gaps = starts.Zip(starts.Skip(1), Stopwatch.GetElapsedTime).ToList();
        var shortest = gaps.Min();
        Assert.True(shortest >= TimeSpan.FromMilliseconds(900), $"the one-shot service ran again {shortest.TotalMilliseconds:0} ms after its previous run; {gaps.Count} gaps: {string.Join(", ", gaps.Take(10).Select(g => g.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))} ms…");
    }

    [Fact]
    public async Task A_one_shot_job_told_to_stop_leading_when_finished_runs_once_and_its_instance_leaves_the_election()
    {
        var name = NewElection();
        var probe = new LeaderProbe();
        using var host = await StartHostAsync(0, probe, services => services.AddLeaderService<OneShotWork>(name, null, o => (o.WhenFinished, o.CampaignDelay) = (LeaderServiceEnd.StopLeading, TimeSpan.Zero)));
        var leading = host.Services.GetServices<IHostedService>().OfType<BackgroundService>().Single(s => s.GetType().Name.StartsWith("LeaderOnlyHostedService", StringComparison.Ordinal));

        // Its campaigning ends on its own: no further term can begin (with CampaignAgain it never ends).
        await Eventually.Async(() => leading.ExecuteTask is { IsCompleted: true }, TimeSpan.FromSeconds(30), "the leader-only service to stop campaigning after its one run");
        Assert.Single(probe.Terms);
        Assert.Null(await Cluster.NewClient().CreateElection(name).GetLeaderAsync());
        Assert.False(host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested, "stopping leading stopped the host");
    }

    [Fact]
    public async Task A_failed_leader_only_service_told_to_stop_the_host_resigns_and_stops_it()
    {
        var name = NewElection();
        var probe = new LeaderProbe { FailFirstRun = true };
        using var host = await StartHostAsync(0, probe, services => services.AddLeaderService<LeaderOnlyWork>(name, null, o => o.WhenFailed = LeaderServiceEnd.StopHost));
        var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;

        await Eventually.Async(() => stopping.IsCancellationRequested, TimeSpan.FromSeconds(30), "the host to be stopped after its leader-only service failed");
        Assert.Equal(name, probe.FailedRun?.Election);
        Assert.Single(probe.Terms);
        Assert.Null(await Cluster.NewClient().CreateElection(name).GetLeaderAsync());

        var services = new ServiceCollection();
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddLeaderService<OneShotWork>(name, null, o => o.CampaignDelay = TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddLeaderService<OneShotWork>(name, null, o => o.WhenFailed = (LeaderServiceEnd)7));
        Assert.Empty(services);
    }

    private async Task<IHost> StartHostAsync(int instance, LeaderProbe probe, Action<IServiceCollection> leaderServices)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<IGrainFactory>(Cluster.Grains);
        builder.Services.AddCoordinationClient(o =>
        {
            o.SessionTtl = CoordinationCluster.Ttl;
            o.DeadlineMargin = TimeSpan.FromMilliseconds(200);
            o.MaxPark = TimeSpan.FromSeconds(2);
        });
        builder.Services.AddSingleton(new Instance(instance));
        builder.Services.AddSingleton(probe);
        leaderServices(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private sealed record Instance(int Id);

    /// <summary>Which instance runs each election's leader-only service; a second one starting while another runs is an overlap.</summary>
    private sealed class LeaderProbe
    {
        private int _runs;
        private int _overlaps;

        public ConcurrentDictionary<string, int> Running { get; } = new();

        public ConcurrentQueue<(string Election, long Term)> Terms { get; } = new();

        /// <summary>When each run started (<see cref="Stopwatch"/> timestamps).</summary>
        public ConcurrentQueue<long> Starts { get; } = new();

        public bool FailFirstRun { get; init; }

        public int Overlaps => Volatile.Read(ref _overlaps);

        /// <summary>The run that failed on purpose (the first to ask; the two elections' runs start concurrently).</summary>
        public (string Election, long Term)? FailedRun { get; private set; }

        public bool ShouldFail(string election, long term)
        {
            if (!FailFirstRun || Interlocked.Increment(ref _runs) != 1)
            {
                return false;
            }

            FailedRun = (election, term);
            return true;
        }

        public void Started(string election, int instance)
        {
            if (!Running.TryAdd(election, instance))
            {
                Interlocked.Increment(ref _overlaps);
            }
        }

        public void Stopped(string election, int instance) => Running.TryRemove(new KeyValuePair<string, int>(election, instance));
    }

    private sealed class LeaderOnlyWork(Instance instance, LeaderProbe probe, CoordinationLeadership leadership) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            probe.Terms.Enqueue((leadership.Election, leadership.Term));
            if (probe.ShouldFail(leadership.Election, leadership.Term))
            {
                throw new InvalidOperationException("the leader-only work failed");
            }

            probe.Started(leadership.Election, instance.Id);
            try
            {
                await Task.Delay(Timeout.Infinite, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                // Stopping takes a while, as real work's does: the next leader must not start meanwhile.
                await Task.Delay(TimeSpan.FromMilliseconds(300), CancellationToken.None);
                probe.Stopped(leadership.Election, instance.Id);
            }
        }
    }

    /// <summary>A leader-only job whose work is done at once.</summary>
    private sealed class OneShotWork(LeaderProbe probe, CoordinationLeadership leadership) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken)
        {
            probe.Starts.Enqueue(Stopwatch.GetTimestamp());
            probe.Terms.Enqueue((leadership.Election, leadership.Term));
            return Task.CompletedTask;
        }
    }
}
