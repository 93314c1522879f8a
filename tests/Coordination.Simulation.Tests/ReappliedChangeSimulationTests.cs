using Coordination.Grains.Values;
using Coordination.Simulation.Tests.Sim;

namespace Coordination.Simulation.Tests;

/// <summary>
/// The interleaving the cluster's counter linearizability test met (CI, 2026-12-04), built step by step: one
/// activation's compare-and-set reaches a single replica before the activation is cut off; a second activation's
/// read finds it there (so it is chosen) and adds more changes than a counter keeps; the first activation heals and
/// applies its change again. It must fail as unknown, not answer "not swapped" for a swap that happened.
/// </summary>
public sealed class ReappliedChangeSimulationTests
{
    private const string Name = "orders/7";

    /// <summary>Seeds tried: the first activation backs off a random moment, and in some runs it reads again before the second is done.</summary>
    private static readonly IEnumerable<int> Seeds = Enumerable.Range(1, 20);

    [Fact]
    public void A_change_chosen_at_one_replica_and_built_on_past_the_kept_changes_fails_as_unknown()
    {
        var built = Seeds.Select(seed => (seed, run: Run(seed, rememberAttempts: true))).Where(r => r.run is not null).ToList();
        Assert.True(built.Count >= 3, $"the interleaving was built in {built.Count} of {Seeds.Count()} runs");
        foreach (var (seed, run) in built)
        {
            var (outcome, firstAddSaw) = run!.Value;
            Assert.True(firstAddSaw == 3, $"seed {seed}: the second activation's first add saw {firstAddSaw}, not the swap's 2 plus 1");
            Assert.True(outcome.Exception?.InnerException is OutcomeUnknownException, $"seed {seed}: the compare-and-set ended {outcome.Status} {outcome.Exception?.InnerException?.GetType().Name}");
        }
    }

    [Fact]
    public async Task Control_a_change_that_forgets_its_attempts_answers_a_swap_that_happened_as_not_swapped()
    {
        var built = Seeds.Select(seed => Run(seed, rememberAttempts: false)).OfType<(Task<AtomicLongResult> Outcome, long FirstAddSaw)>().ToList();
        Assert.True(built.Count >= 3, $"the interleaving was built in {built.Count} of {Seeds.Count()} runs");
        foreach (var (outcome, firstAddSaw) in built)
        {
            Assert.Equal(3, firstAddSaw);
            Assert.True(outcome.IsCompletedSuccessfully, $"the control failed instead: {outcome.Exception}");
            Assert.False((await outcome).Succeeded);
        }
    }

    /// <summary>Builds the interleaving; null when the first activation read again before the second activation's adds were done.</summary>
    private static (Task<AtomicLongResult> Outcome, long FirstAddSaw)? Run(int seed, bool rememberAttempts)
    {
        // Rounds ask every member at once: the interleaving is built replica by replica, as a broadcast meets it.
        var cluster = new SimCluster(seed, everyMemberAtOnce: true);
        var sim = cluster.Sim;
        var first = cluster.NewProposer<AtomicLongRecord>();
        var second = cluster.NewProposer<AtomicLongRecord>();
        var secondHost = cluster.ProposerHosts[^1];
        var replicas = cluster.Nodes.Select(n => n.Self).ToList();

        // The first activation reads, so it holds a promise at every replica and its next change goes straight to an accept.
        Await(sim, () => first.ExecuteAsync<long>((r, _) => (r, r?.Value ?? 0)));

        // The second reads through replicas 1 and 2 only, promising a higher ballot there.
        cluster.Net.Cut(secondHost, replicas[0]);
        Await(sim, () => second.ExecuteAsync<long>((r, _) => (r, r?.Value ?? 0)));

        // The first activation's compare-and-set: replica 0 accepts it, replicas 1 and 2 refuse it, and the activation
        // backs off before it reads again (up to 2 ms for a first conflict).
        var requestId = Guid.NewGuid();
        var proposed = new ProposedRevisions();
        var swap = sim.Start(() => first.ExecuteAsync((r, c) =>
            AtomicLongStateMachine.CompareAndSet(r ?? AtomicLongRecord.Fresh(c.TokenFloor), Name, requestId, 0, 2, rememberAttempts ? proposed : new())));
        sim.RunFor(TimeSpan.FromMicroseconds(150));

        // Meanwhile the second reads afresh through replicas 0 and 1 (so it finds the swap: it is chosen) and adds more
        // changes than a counter keeps, in two group commits.
        cluster.Net.HealAll();
        cluster.Net.Cut(secondHost, replicas[2]);
        second.Invalidate();
        var adds = Enumerable.Range(0, AtomicLongStateMachine.MaxRecent + 1)
            .Select(_ => sim.Start(() => second.ExecuteAsync((r, c) => AtomicLongStateMachine.Add(r ?? AtomicLongRecord.Fresh(c.TokenFloor), Name, Guid.NewGuid(), 1, new()))))
            .ToList();
        sim.RunUntil(Task.WhenAll(adds), TimeSpan.FromSeconds(1));
        Assert.True(adds.All(a => a.IsCompletedSuccessfully), "the second activation's adds did not all succeed");
        if (swap.IsCompleted)
        {
            return null;
        }

        cluster.Net.HealAll();
        sim.RunUntil(swap, TimeSpan.FromSeconds(1));
        Assert.True(swap.IsCompleted, "the compare-and-set never finished after the network healed");
        return (swap, adds.Min(a => a.Result.Value));
    }

    /// <summary>Runs a register operation on the simulation's scheduler until it finishes.</summary>
    private static T Await<T>(Coordination.TestKit.Simulation.SimKernel sim, Func<Task<T>> operation)
    {
        var task = sim.Start(operation);
        sim.RunUntil(task, TimeSpan.FromSeconds(1));
        Assert.True(task.IsCompleted, "a register operation did not finish within a simulated second");
        return task.GetAwaiter().GetResult();
    }
}
