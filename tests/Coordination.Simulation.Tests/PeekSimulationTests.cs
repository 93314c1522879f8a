using Coordination.Grains.Leases;
using Coordination.Simulation.Tests.Sim;

namespace Coordination.Simulation.Tests;

/// <summary>
/// A peek (<c>IRegister.PeekAsync</c>) wants a promise, not a read that began after it arrived. One queued behind a
/// batch in flight takes the promise that batch leaves: a new lock activation's first read and its first acquire's
/// peek cost one prepare between them, not two. A read queued the same way still goes round.
/// </summary>
public sealed class PeekSimulationTests
{
    [Fact]
    public async Task A_peek_queued_behind_a_first_read_takes_its_promise_without_a_round()
    {
        var alone = new SimCluster(seed: 7);
        var reader = alone.NewProposer();
        Assert.True(alone.Sim.RunUntil(alone.Sim.Start(() => reader.ExecuteAsync((s, _) => (s, s))), TimeSpan.FromSeconds(1)), "the lone read did not finish");

        var cluster = new SimCluster(seed: 7);
        var proposer = cluster.NewProposer();
        var read = cluster.Sim.Start(() => proposer.ExecuteAsync((s, _) => (s, s)));
        var peek = cluster.Sim.Start(() => proposer.PeekAsync());
        Assert.True(cluster.Sim.RunUntil(() => read.IsCompleted && peek.IsCompleted, TimeSpan.FromSeconds(1)), "the read and the peek did not finish");

        Assert.Equal(alone.Net.Sent, cluster.Net.Sent);
        Assert.Equal(1, proposer.Generation);
        var view = await peek;
        Assert.Equal(1, view.Generation);
        Assert.Null(view.Value);

        // The promise the peek reported is the one a commit then uses: it commits under the same generation.
        var holder = new LockRequest("holder", Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
        var commit = cluster.Sim.Start(() => proposer.ExecuteAsync((s, c) =>
            c.Generation == view.Generation ? LockStateMachine.Acquire(s, holder, AcquireMode.Wait, c.TokenEpoch) : (s, default)));
        Assert.True(cluster.Sim.RunUntil(commit, TimeSpan.FromSeconds(1)), "the commit did not finish");
        Assert.Equal(AcquireStatus.Granted, (await commit).Status);
    }

    [Fact]
    public void A_read_queued_behind_a_first_read_still_goes_round()
    {
        var cluster = new SimCluster(seed: 7);
        var proposer = cluster.NewProposer();

        var first = cluster.Sim.Start(() => proposer.ExecuteAsync((s, _) => (s, s)));
        var second = cluster.Sim.Start(() => proposer.ExecuteAsync((s, _) => (s, s)));
        Assert.True(cluster.Sim.RunUntil(() => first.IsCompleted && second.IsCompleted, TimeSpan.FromSeconds(1)), "the reads did not finish");

        // The second read arrived after the first one's prepare began: it reads again (a prepare, for an absent key).
        Assert.Equal(2, proposer.Generation);
    }

    [Fact]
    public async Task A_peek_with_no_promise_and_nothing_in_flight_prepares()
    {
        var cluster = new SimCluster(seed: 7);
        var proposer = cluster.NewProposer();

        var peek = cluster.Sim.Start(() => proposer.PeekAsync());
        Assert.True(cluster.Sim.RunUntil(peek, TimeSpan.FromSeconds(1)), "the peek did not finish");

        Assert.True(cluster.Net.Sent > 0, "a peek with no promise held answered without taking one");
        Assert.Equal(1, (await peek).Generation);
    }
}
