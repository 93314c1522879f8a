using System.Diagnostics;
using Coordination.Grains.Leases;
using Coordination.Replication.Protocol;
using Coordination.Simulation.Tests.Sim;
using Coordination.TestKit.Simulation;
using Xunit.Abstractions;

namespace Coordination.Simulation.Tests;

/// <summary>
/// Seeded simulations of one lock's register: two or three proposers (what duplicate activations do),
/// a network that loses, delays, reorders and duplicates messages, cut links, and replicas crashed and
/// replaced under load. Set COORD_SIM_SEED to replay one seed.
/// </summary>
public sealed class RegisterSimulationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Duration = TimeSpan.FromMilliseconds(250);

    private sealed record Outcome(int Seed, List<string> Violations, int Grants, int Failures, long Events, int Replacements);

    [Fact]
    public void Random_schedules_never_grant_twice_and_tokens_only_grow()
    {
        var watch = Stopwatch.StartNew();
        var outcomes = SimSeeds.Range(600, offset: 1).Select(seed => RunSchedule(seed, Breakage.None)).ToList();
        var failed = outcomes.FirstOrDefault(o => o.Violations.Count > 0);
        output.WriteLine($"{outcomes.Count} schedules in {watch.Elapsed.TotalSeconds:0.0} s: {outcomes.Sum(o => o.Grants)} grants, {outcomes.Sum(o => o.Failures)} failed operations retried, {outcomes.Sum(o => o.Replacements)} replicas crashed and replaced, {outcomes.Sum(o => o.Events)} events");
        Assert.True(failed is null, failed is null ? null : $"seed {failed.Seed} (replay with COORD_SIM_SEED={failed.Seed}):\n{string.Join("\n", failed.Violations)}");
        Assert.True(outcomes.Sum(o => o.Grants) > outcomes.Count * 5, "the schedules made too little progress to mean anything");
        Assert.True(outcomes.Sum(o => o.Replacements) > outcomes.Count / 2, "the nemesis replaced too few replicas");
    }

    [Fact]
    public void Replacing_every_replica_one_by_one_keeps_a_held_grant()
    {
        foreach (var seed in SimSeeds.Range(40, offset: 1000))
        {
            var (violations, grantKept) = ReplaceAllWhileHeld(seed, Breakage.None);
            Assert.True(violations.Count == 0 && grantKept, $"seed {seed}: grant kept: {grantKept}; {string.Join("\n", violations)}");
        }
    }

    [Fact]
    public void Control_letting_an_empty_replica_vote_is_caught()
    {
        var caught = SimSeeds.Range(40, offset: 1000).Select(seed => (seed, result: ReplaceAllWhileHeld(seed, new Breakage(EmptyReplicaVotes: true))))
            .FirstOrDefault(r => r.result.Violations.Count > 0 || !r.result.GrantKept);
        Assert.True(caught.result.Violations is not null, "no seed exposed an empty replica voting: the checks are blind to lost state");
        output.WriteLine($"empty replica voting caught at seed {caught.seed}: grant kept {caught.result.GrantKept}; {string.Join("; ", caught.result.Violations)}");

        var random = FirstCaught(new Breakage(EmptyReplicaVotes: true), 400);
        output.WriteLine($"... and by the random schedules at seed {random.Seed}: {random.Violations[0]}");
    }

    [Fact]
    public void Control_reusing_a_ballot_for_two_values_is_caught()
    {
        var runs = SimSeeds.Range(100, offset: 2000).SelectMany(seed => new[] { 0, 1, 2, 3 }.Select(warmups => (seed, warmups))).ToList();
        foreach (var (seed, warmups) in runs)
        {
            var (correct, _) = BallotReuseScenario(seed, Breakage.None, warmups);
            Assert.True(correct.Count == 0, $"seed {seed}, {warmups} warm-up commits: the correct proposer failed the scenario: {string.Join("; ", correct)}");
        }

        var caught = runs.Select(r => (r.seed, r.warmups, result: BallotReuseScenario(r.seed, new Breakage(ReuseBallot: true), r.warmups))).FirstOrDefault(r => r.result.Violations.Count > 0);
        Assert.True(caught.result.Violations is not null, "no seed exposed a ballot reused for two values");
        output.WriteLine($"ballot reuse caught at seed {caught.seed} after {caught.warmups} warm-up commits: {caught.result.Violations[0]}");
    }

    /// <summary>
    /// A proposer's accept reaches only one replica and fails; its next write, for another client, goes
    /// to the other two. Correct proposers take a fresh ballot for it; the broken one reuses the failed
    /// ballot, so two replicas hold different values under one ballot and a later reader may pick the
    /// wrong one, forgetting a grant it acknowledged.
    /// </summary>
    private static (List<string> Violations, int Grants) BallotReuseScenario(int seed, Breakage breakage, int warmups)
    {
        var cluster = new SimCluster(seed, breakage);
        var sim = cluster.Sim;
        var p = cluster.NewProposer();
        var host = cluster.ProposerHosts[0];
        var members = cluster.Configuration.Members.Select(m => m.Id).ToList();
        for (var i = 0; i < warmups; i++)
        {
            // Reads commit too (a fresh accept); each one moves the proposer's piggybacked promise along.
            Commit(cluster, p, (s, _) => (s, true), "warm-up read");
        }

        var history = new List<HeldGrant>();
        var first = new LockRequest("first", Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
        cluster.Net.Cut(host, members[1]);
        cluster.Net.Cut(host, members[2]);
        Assert.False(TryCommit(cluster, p, (s, c) => LockStateMachine.Acquire(s, first, AcquireMode.Wait, c.TokenEpoch)), "the cut accept succeeded");
        cluster.Net.HealAll();

        var second = new LockRequest("second", Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
        cluster.Net.Cut(host, members[0]);
        var granted = cluster.Sim.Start(() => p.ExecuteAsync((s, c) => LockStateMachine.Acquire(s, second, AcquireMode.Wait, c.TokenEpoch)));
        sim.RunUntil(granted, TimeSpan.FromSeconds(1));
        cluster.Net.HealAll();
        if (granted.IsCompletedSuccessfully && granted.Result.Status == AcquireStatus.Granted)
        {
            history.Add(new HeldGrant("second", second.RequestId, granted.Result.Token, sim.Now));
        }

        // The first client retries its acquire (same request id) through a new activation.
        var retry = Commit(cluster, cluster.NewProposer(), (s, c) => LockStateMachine.Acquire(s, first, AcquireMode.Wait, c.TokenEpoch), "the retry");
        if (retry.Status == AcquireStatus.Granted)
        {
            history.Add(new HeldGrant("first", first.RequestId, retry.Token, sim.Now));
        }

        return (GrantChecker.Check(history), history.Count);
    }

    [Fact]
    public void Control_answering_without_a_reread_after_a_rejection_is_caught()
    {
        var caught = FirstCaught(new Breakage(SkipReread: true), 400);
        output.WriteLine($"blind retry caught at seed {caught.Seed}: {caught.Violations[0]}");
    }

    private static Outcome FirstCaught(Breakage breakage, int seeds)
    {
        foreach (var seed in SimSeeds.Range(seeds, offset: 1))
        {
            var outcome = RunSchedule(seed, breakage);
            if (outcome.Violations.Count > 0)
            {
                return outcome;
            }
        }

        Assert.Fail($"{seeds} schedules ran with {breakage} and the checker found nothing: it cannot be trusted to find real bugs");
        return null!;
    }

    private static Outcome RunSchedule(int seed, Breakage breakage)
    {
        var cluster = new SimCluster(seed, breakage);
        var sim = cluster.Sim;
        var r = sim.Random;
        cluster.Net.Faults = NetworkFaults.Random(r, maxLoss: 0.15, maxExtraDelayMicros: 3000);
        var proposers = Enumerable.Range(0, 2 + r.Next(2)).Select(_ => cluster.NewProposer()).ToList();
        var workload = new LockWorkload(cluster, proposers);
        var replacements = ReplicaNemesis.Start(cluster, Duration);
        var run = workload.RunClients(2 + r.Next(3), Duration);
        var finished = sim.RunUntil(run, Duration + TimeSpan.FromSeconds(3));
        var violations = GrantChecker.Check(workload.Grants);
        if (!finished)
        {
            violations.Add("the clients did not finish: an operation hung past every timeout");
        }

        return new Outcome(seed, violations, workload.Grants.Count, workload.Failures, sim.EventsRun, replacements());
    }

    /// <summary>
    /// One client takes the lock; then each original replica is crashed and replaced in turn, waiting for
    /// the newcomer to catch up. A fresh proposer (a new activation) must still see the grant, and a
    /// competitor must not get the lock.
    /// </summary>
    private static (List<string> Violations, bool GrantKept) ReplaceAllWhileHeld(int seed, Breakage breakage)
    {
        var cluster = new SimCluster(seed, breakage);
        var sim = cluster.Sim;
        cluster.Net.Faults = new NetworkFaults(0.05, 0.05, TimeSpan.FromMicroseconds(20), TimeSpan.FromMicroseconds(500));
        var holder = new LockRequest("holder", Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
        var first = cluster.NewProposer();
        var token = Commit(cluster, first, (s, c) => LockStateMachine.Acquire(s, holder, AcquireMode.Wait, c.TokenEpoch), "the first grant").Token;
        var history = new List<HeldGrant> { new("holder", holder.RequestId, token, sim.Now) };

        foreach (var original in cluster.Configuration.Members.Select(m => m.Id).ToList())
        {
            cluster.CrashAndReplace(original);
            Assert.True(sim.RunUntil(cluster.AllMembersActive, TimeSpan.FromSeconds(2)), $"seed {seed}: the replacement of {original} never caught up: {cluster.Configuration}");
        }

        var competitor = new LockRequest("competitor", Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
        var fresh = cluster.NewProposer();
        var seen = Commit(cluster, fresh, (s, c) => (LockStateMachine.Acquire(s, competitor, AcquireMode.IfAvailable, c.TokenEpoch).Next, s), "the competitor's attempt");
        if (fresh.CachedValue?.Holder is { SessionId: "competitor" } g)
        {
            history.Add(new HeldGrant("competitor", competitor.RequestId, g.Token, sim.Now));
        }

        var kept = seen?.Holder is { SessionId: "holder" } h && h.Token == token;
        return (GrantChecker.Check(history), kept);
    }

    /// <summary>Runs one change through a proposer, retrying typed failures (lost messages) like a client would, until it completes.</summary>
    private static T Commit<T>(SimCluster cluster, RegisterProposer<LockRecord> proposer, RegisterChange<LockRecord, T> change, string what)
    {
        var sim = cluster.Sim;
        var task = sim.Start(async () =>
        {
            for (var i = 0; ; i++)
            {
                try
                {
                    return await proposer.ExecuteAsync(change);
                }
                catch (CoordinationException) when (i < 50)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(5), sim.Clock);
                }
            }
        });
        Assert.True(sim.RunUntil(task, TimeSpan.FromSeconds(5)), $"seed {sim.Seed}: {what} did not complete");
        return task.Result;
    }

    /// <summary>Runs one change once, without retries: it may fail.</summary>
    private static bool TryCommit<T>(SimCluster cluster, RegisterProposer<LockRecord> proposer, RegisterChange<LockRecord, T> change)
    {
        var task = cluster.Sim.Start(() => proposer.ExecuteAsync(change));
        cluster.Sim.RunUntil(task, TimeSpan.FromSeconds(1));
        return task.IsCompletedSuccessfully;
    }
}
