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
        var peek = cluster.Sim.Start(() => proposer.PeekAsync().AsTask());
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
    public async Task A_peek_that_finds_a_value_on_a_minority_writes_it_back_before_returning_it()
    {
        var (cluster, members) = await ReleaseOnOneReplicaAsync();

        // A new activation peeks through the replica that took the release and one that did not.
        var second = cluster.NewProposer();
        cluster.Net.Cut(cluster.ProposerHosts[1], members[2]);
        var peek = cluster.Sim.Start(() => second.PeekAsync().AsTask());
        Assert.True(cluster.Sim.RunUntil(peek, TimeSpan.FromSeconds(5)), "the peek did not finish");
        Assert.Null((await peek).Value!.Holder);

        // What the peek returned is chosen: a reader through the two replicas that never saw the release sees it too.
        await AssertReleaseChosenAsync(cluster, members);
    }

    [Fact]
    public async Task A_peek_while_a_value_found_on_a_minority_is_written_back_waits_for_the_write()
    {
        var (cluster, members) = await ReleaseOnOneReplicaAsync();
        var second = cluster.NewProposer();
        cluster.Net.Cut(cluster.ProposerHosts[1], members[2]);

        // A read's prepare finds the release on one replica of two; its write-back is on its way when the peek comes
        // (slow links, so the kernel's millisecond poll sees the prepare done before the write-back).
        cluster.Net.Faults = new NetworkFaults(0, 0, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        var read = cluster.Sim.Start(() => second.ExecuteAsync((s, _) => (s, s)));
        Assert.True(cluster.Sim.RunUntil(() => second.Generation == 1, TimeSpan.FromSeconds(5)), "the read's prepare did not finish");
        Assert.False(read.IsCompleted, "the read answered without writing back a value it found on one replica of two");
        var peek = cluster.Sim.Start(() => second.PeekAsync().AsTask());
        Assert.True(cluster.Sim.RunUntil(peek, TimeSpan.FromSeconds(5)), "the peek did not finish");
        Assert.True(read.IsCompleted, "the peek answered with a value no majority had taken yet, before its write-back");
        Assert.Null((await peek).Value!.Holder);
        await AssertReleaseChosenAsync(cluster, members);
    }

    [Fact]
    public async Task A_peek_with_no_promise_and_nothing_in_flight_prepares()
    {
        var cluster = new SimCluster(seed: 7);
        var proposer = cluster.NewProposer();

        var peek = cluster.Sim.Start(() => proposer.PeekAsync().AsTask());
        Assert.True(cluster.Sim.RunUntil(peek, TimeSpan.FromSeconds(1)), "the peek did not finish");

        Assert.True(cluster.Net.Sent > 0, "a peek with no promise held answered without taking one");
        Assert.Equal(1, (await peek).Generation);
    }

    /// <summary>A grant committed everywhere, then its release taken by one replica only (no majority: outcome unknown).</summary>
    private static async Task<(SimCluster Cluster, Replication.Configuration.ReplicaId[] Members)> ReleaseOnOneReplicaAsync()
    {
        var cluster = new SimCluster(seed: 11);
        var members = cluster.Configuration.Members.Select(m => m.Id).ToArray();
        var first = cluster.NewProposer();
        var holder = new LockRequest("holder", Guid.NewGuid(), null, TimeSpan.Zero, TimeSpan.Zero);
        var grant = cluster.Sim.Start(() => first.ExecuteAsync((s, c) => LockStateMachine.Acquire(s, holder, AcquireMode.Wait, c.TokenEpoch)));
        Assert.True(cluster.Sim.RunUntil(grant, TimeSpan.FromSeconds(1)), "the grant did not commit");
        var token = (await grant).Token;

        cluster.Net.Cut(cluster.ProposerHosts[0], members[1]);
        cluster.Net.Cut(cluster.ProposerHosts[0], members[2]);
        var release = cluster.Sim.Start(() => first.ExecuteAsync((s, c) => LockStateMachine.Release(s, "the-lock", "holder", holder.RequestId, token, c.TokenEpoch)));
        Assert.True(cluster.Sim.RunUntil(release, TimeSpan.FromSeconds(5)), "the release did not give up");
        Assert.True(release.IsFaulted, "the release found a majority through cut links");
        return (cluster, members);
    }

    /// <summary>A reader through the two replicas that never took the release directly sees it: it was written back.</summary>
    private static async Task AssertReleaseChosenAsync(SimCluster cluster, Replication.Configuration.ReplicaId[] members)
    {
        cluster.Net.HealAll();
        var third = cluster.NewProposer();
        cluster.Net.Cut(cluster.ProposerHosts[^1], members[0]);
        var read = cluster.Sim.Start(() => third.ExecuteAsync((s, _) => (s, s)));
        Assert.True(cluster.Sim.RunUntil(read, TimeSpan.FromSeconds(5)), "the read did not finish");
        Assert.Null((await read)!.Holder);
    }
}
