using Coordination.Grains.Leases;
using Coordination.Replication.Protocol;
using Coordination.Simulation.Tests.Sim;

namespace Coordination.Simulation.Tests;

/// <summary>
/// A change that may wait (<c>IRegister.ExecuteLaterAsync</c>: a request joining the queue of a held lock) starts no
/// round of its own for up to <see cref="ProposerOptions.Linger"/>: it goes with the next change that does, so a
/// contended handoff (the holder's release, the last holder's next request) costs one round. It never waits longer
/// than the linger, and stops waiting as soon as what it waits for is over.
/// </summary>
public sealed class LingerSimulationTests
{
    private static readonly TimeSpan Linger = new ProposerOptions().Linger;

    [Fact]
    public async Task A_waiter_with_nobody_to_go_with_goes_round_alone_once_its_linger_is_over()
    {
        var (cluster, proposer, _) = await HeldAsync();
        var sent = cluster.Net.Sent;
        var start = cluster.Sim.Elapsed;
        var waiter = Request("waiter");

        var join = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(waiter), () => true)));
        cluster.Sim.RunFor(Linger / 2);
        Assert.False(join.IsCompleted, "a lingering change went round before its linger was over");
        Assert.Equal(sent, cluster.Net.Sent);

        Assert.True(cluster.Sim.RunUntil(join, TimeSpan.FromSeconds(1)), "a lingering change with nobody to go with never went round");
        var (decision, doneAt) = await join;
        Assert.Equal(AcquireStatus.Queued, decision.Status);
        Assert.True(doneAt - start >= Linger, $"it committed after {doneAt - start}, before its linger ({Linger}) was over");
        Assert.Single(proposer.CachedValue!.Waiters);
    }

    [Fact]
    public async Task A_waiter_and_the_release_that_follows_it_commit_in_one_round()
    {
        var (cluster, proposer, holder) = await HeldAsync();
        var rounds = proposer.Rounds;
        var start = cluster.Sim.Elapsed;
        var waiter = Request("waiter");

        var join = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(waiter), () => !Admits(proposer.CachedValue, waiter))));
        cluster.Sim.RunFor(Linger / 4);
        var release = cluster.Sim.Start(() => proposer.ExecuteAsync(Release(holder)));
        Assert.True(cluster.Sim.RunUntil(() => join.IsCompleted && release.IsCompleted, TimeSpan.FromSeconds(1)), "the waiter and the release did not commit");

        Assert.Equal(rounds + 1, proposer.Rounds);
        Assert.Equal(ReleaseOutcome.Released, await release);

        // In their order of arrival: the waiter queued behind the holder, and the release granted it.
        Assert.Equal(AcquireStatus.Queued, (await join).Result.Status);
        Assert.True((await join).DoneAt - start < Linger, "the waiter waited out its linger though a release came to go with");
        Assert.Equal("waiter", proposer.CachedValue!.Holder!.SessionId);
    }

    [Fact]
    public async Task A_waiter_behind_a_release_that_frees_the_lock_stops_lingering()
    {
        var (cluster, proposer, holder) = await HeldAsync();

        // Slower links (a round takes half a millisecond): the waiter arrives while the release is on its way, and queues behind it.
        cluster.Net.Faults = new NetworkFaults(0, 0, TimeSpan.FromMicroseconds(250), TimeSpan.FromMicroseconds(250));
        var release = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteAsync(Release(holder))));
        var waiter = Request("waiter");
        var join = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(waiter), () => !Admits(proposer.CachedValue, waiter))));
        Assert.True(cluster.Sim.RunUntil(() => join.IsCompleted && release.IsCompleted, TimeSpan.FromSeconds(1)), "the release and the waiter did not commit");

        var (_, releasedAt) = await release;
        var (decision, joinedAt) = await join;
        Assert.Equal(AcquireStatus.Granted, decision.Status);
        Assert.True(joinedAt > releasedAt, "the waiter did not queue behind the release");
        Assert.True(joinedAt - releasedAt < Linger, $"the waiter took {joinedAt - releasedAt} after the lock was free: it lingered");
    }

    [Fact]
    public async Task A_waiter_queued_behind_a_round_with_nobody_to_go_with_goes_once_its_linger_is_over()
    {
        var (cluster, proposer, holder) = await HeldAsync();

        // It arrives while a round is on its way, so what is left of its linger when that round ends is not whole milliseconds.
        cluster.Net.Faults = new NetworkFaults(0, 0, TimeSpan.FromMicroseconds(130), TimeSpan.FromMicroseconds(130));
        var start = cluster.Sim.Elapsed;
        var read = cluster.Sim.Start(() => proposer.ExecuteAsync((s, _) => (s, s)));
        var join = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(Request("waiter")), () => true)));
        Assert.True(cluster.Sim.RunUntil(() => read.IsCompleted && join.IsCompleted, TimeSpan.FromSeconds(1)), "the waiter never went round");

        var (decision, doneAt) = await join;
        Assert.Equal(AcquireStatus.Queued, decision.Status);
        Assert.InRange(doneAt - start, Linger, Linger + TimeSpan.FromMilliseconds(2));
        Assert.Equal(holder.SessionId, proposer.CachedValue!.Holder!.SessionId);
    }

    [Fact]
    public async Task Waiters_that_came_one_after_another_go_together_when_the_first_ones_linger_is_over()
    {
        var (cluster, proposer, _) = await HeldAsync();
        var start = cluster.Sim.Elapsed;
        var first = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(Request("first")), () => true)));
        cluster.Sim.RunFor(Linger / 2);
        var second = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(Request("second")), () => true)));
        var rounds = proposer.Rounds;
        Assert.True(cluster.Sim.RunUntil(() => first.IsCompleted && second.IsCompleted, TimeSpan.FromSeconds(1)), "the waiters never went round");

        // A later waiter does not push the wait back: both go once the first one's linger is over, in one round.
        Assert.Equal(rounds + 1, proposer.Rounds);
        Assert.InRange((await second).DoneAt - start, Linger, Linger + TimeSpan.FromMilliseconds(1));
        Assert.Equal(["first", "second"], proposer.CachedValue!.Waiters.Select(w => w.SessionId));
    }

    [Fact]
    public async Task A_lingering_change_whose_condition_fails_holds_nothing_back()
    {
        var (cluster, proposer, holder) = await HeldAsync();
        var start = cluster.Sim.Elapsed;
        var join = cluster.Sim.Start(() => Timed(cluster, () => proposer.ExecuteLaterAsync(Acquire(Request("waiter")), () => throw new InvalidOperationException("the condition failed"))));
        Assert.True(cluster.Sim.RunUntil(join, TimeSpan.FromSeconds(1)), "a change whose linger condition threw never went round");
        Assert.True((await join).DoneAt - start < Linger, "a change whose linger condition threw lingered");

        // And the register goes on: a release after it commits.
        var release = cluster.Sim.Start(() => proposer.ExecuteAsync(Release(holder)));
        Assert.True(cluster.Sim.RunUntil(release, TimeSpan.FromSeconds(1)), "the register stopped after a linger condition threw");
        Assert.Equal("waiter", proposer.CachedValue!.Holder!.SessionId);
    }

    /// <summary>A cluster whose register has a holder, committed, with the proposer's promise still held.</summary>
    private static async Task<(SimCluster Cluster, RegisterProposer<LockRecord> Proposer, LockRequest Holder)> HeldAsync()
    {
        var cluster = new SimCluster(seed: 5);
        var proposer = cluster.NewProposer();
        var holder = Request("holder");
        var grant = cluster.Sim.Start(() => proposer.ExecuteAsync(Acquire(holder)));
        Assert.True(cluster.Sim.RunUntil(grant, TimeSpan.FromSeconds(1)), "the grant did not commit");
        Assert.Equal(AcquireStatus.Granted, (await grant).Status);
        return (cluster, proposer, holder);
    }

    /// <summary>What the lease queue asks of a lingering waiter: the last committed value would not grant it yet.</summary>
    private static bool Admits(LockRecord? committed, LockRequest request) => committed is null || ((ILeaseState<LockRecord>)committed).Admits(request);

    private static LockRequest Request(string session) => new(session, Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);

    private static RegisterChange<LockRecord, AcquireDecision> Acquire(LockRequest request) =>
        (s, c) => LockStateMachine.Acquire(s, request, AcquireMode.Wait, c.TokenEpoch);

    private static RegisterChange<LockRecord, ReleaseOutcome> Release(LockRequest holder) =>
        (s, c) => LockStateMachine.Release(s, "the-lock", holder.SessionId, holder.RequestId, s!.Holder!.Token, c.TokenEpoch);

    /// <summary>The result and the virtual time it came at (the kernel's polls see completions only to the millisecond).</summary>
    private static async Task<(T Result, TimeSpan DoneAt)> Timed<T>(SimCluster cluster, Func<Task<T>> work)
    {
        var result = await work();
        return (result, cluster.Sim.Elapsed);
    }
}
