using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>Silo failures under a held lock. Each test gets its own cluster, since it destroys silos.</summary>
public sealed class FailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string NewLock() => $"failover/{Guid.NewGuid():N}";

    [Fact]
    public async Task Killing_the_silo_hosting_the_lock_grain_keeps_the_holder_the_queue_order_and_raises_the_next_token()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var grains = cluster.Grains;
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(grains);
        await using var b = await TestSession.OpenAsync(grains);
        await using var c = await TestSession.OpenAsync(grains);
        var ida = Guid.NewGuid();
        var ta = await grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        var idb = Guid.NewGuid();
        var idc = Guid.NewGuid();
        var waitB = grains.AcquireAsync(name, b.Id, idb, TimeSpan.FromSeconds(60));
        await Eventually.Async(async () => (await grains.InfoAsync(name)).Waiters.Length == 1, TimeSpan.FromSeconds(10), "b queued");
        var waitC = grains.AcquireAsync(name, c.Id, idc, TimeSpan.FromSeconds(60));
        await Eventually.Async(async () => (await grains.InfoAsync(name)).Waiters.Length == 2, TimeSpan.FromSeconds(10), "c queued behind b");

        var host = await cluster.HostOfAsync(grains.Lock(name));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        output.WriteLine($"killed after {sw.Elapsed}");
        var info = await grains.InfoAsync(name);
        output.WriteLine($"info after {sw.Elapsed}");
        Assert.NotEqual(host, await cluster.HostOfAsync(grains.Lock(name)));
        Assert.Equal(new LockHolder(a.Info.Tag, ida, ta, null), info.Holder);
        Assert.Equal([b.Info.Tag, c.Info.Tag], info.Waiters.Select(w => w.SessionTag));

        await grains.ReleaseAsync(name, a.Id, ida, ta);
        output.WriteLine($"released after {sw.Elapsed}");
        var tb = await waitB;
        output.WriteLine($"b granted after {sw.Elapsed}");
        Assert.True(tb > ta, $"token after failover {tb} is not above {ta}");
        Assert.False(waitC.IsCompleted);
        await grains.ReleaseAsync(name, b.Id, idb, tb);
        Assert.True(await waitC > tb);
    }

    [Fact]
    public async Task Killing_the_silo_hosting_an_election_keeps_the_leader_its_term_and_the_waiting_candidate()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var name = $"failover-election/{Guid.NewGuid():N}";
        var a = cluster.NewClient();
        var b = cluster.NewClient();
        var leader = await a.CreateElection(name).CampaignAsync("a");
        var waitB = b.CreateElection(name).CampaignAsync("b");
        await Eventually.Async(async () => (await a.CreateElection(name).GetStateAsync()).Candidates.Length == 1, TimeSpan.FromSeconds(10), "b queued behind a");

        using var stopObserving = new CancellationTokenSource();
        var observed = new System.Collections.Concurrent.ConcurrentQueue<ElectionEvent>();
        var observer = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in cluster.NewClient().CreateElection(name).ObserveAsync(0, stopObserving.Token))
                {
                    observed.Enqueue(e);
                }
            }
            catch (OperationCanceledException)
            {
                // Done.
            }
        });
        await Eventually.Async(() => !observed.IsEmpty, TimeSpan.FromSeconds(10), "the observer saw a's election");

        var grain = cluster.Grains.GetGrain<IElectionGrain>(name);
        var host = await cluster.HostOfAsync(grain);
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        var state = await a.CreateElection(name).GetStateAsync();
        Assert.NotEqual(host, await cluster.HostOfAsync(grain));
        Assert.Equal(leader.CandidateId, state.Leader?.CandidateId);
        Assert.Equal(leader.Term, state.Leader?.Term);
        Assert.Single(state.Candidates);
        Assert.False(leader.IsLost, "the leader's session survived the failover");

        // The leader still acts as leader with its term; the waiting candidate's parked call was re-sent and kept its place.
        var proclaimed = await leader.ProclaimAsync("a after failover");
        Assert.Equal(leader.Term, proclaimed.Leader?.Term);
        Assert.False(waitB.IsCompleted);
        await leader.ResignAsync();
        await using var next = await waitB;
        Assert.True(next.Term > leader.Term, $"term after failover {next.Term} is not above {leader.Term}");
        Assert.Equal("b", (await b.CreateElection(name).GetLeaderAsync())?.Value);

        // The observer followed across the failover: every revision once, in order, nothing stale.
        var last = (await b.CreateElection(name).GetStateAsync()).Revision;
        await Eventually.Async(() => observed.LastOrDefault()?.Revision == last, TimeSpan.FromSeconds(10), $"the observer to reach revision {last}");
        await stopObserving.CancelAsync();
        await observer;
        Assert.Equal(Enumerable.Range(1, (int)last).Select(r => (long)r), observed.Select(e => e.Revision));
        Assert.Equal([ElectionEventKind.Elected, ElectionEventKind.Proclaimed, ElectionEventKind.Elected], observed.Select(e => e.Kind));
    }

    [Fact]
    public async Task Killing_a_replica_silo_keeps_operations_going_and_the_replica_is_replaced()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var grains = cluster.Grains;
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(grains);
        var ida = Guid.NewGuid();
        var ta = await grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        var before = await cluster.ConfigurationOfLockAsync(name);
        var grainHost = await cluster.HostOfAsync(grains.Lock(name));
        var victim = before.Members.Select(m => SiloAddress.FromParsableString(m.Id.Value)).FirstOrDefault(s => s != grainHost && cluster.Cluster.GetSiloForAddress(s) is not null)
            ?? SiloAddress.FromParsableString(before.Members[0].Id.Value);
        await cluster.Cluster.KillSiloAsync(cluster.Silo(victim));

        // Operations continue with the two remaining replicas...
        var info = await grains.InfoAsync(name);
        Assert.Equal(ta, info.Holder!.FencingToken);
        await grains.ReleaseAsync(name, a.Id, ida, ta);
        var tb = await grains.AcquireAsync(name, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        Assert.True(tb > ta);

        // ...and the dead replica is replaced by the spare silo, which catches up.
        await Eventually.Async(async () =>
        {
            var now = await cluster.ConfigurationOfLockAsync(name);
            return now.Epoch > before.Epoch && !now.Contains(new(victim.ToParsableString())) && now.Recovering.IsDefaultOrEmpty;
        }, TimeSpan.FromSeconds(20), "the dead replica replaced and the newcomer caught up");
        var replicas = await cluster.LockReplicasAsync(name);
        Assert.Equal(3, replicas.Count);
        Assert.DoesNotContain(replicas, r => r.Replica == victim.ToParsableString());
        Assert.True(replicas.Count(r => r.Record?.Holder?.Token == tb) >= 2);
        await cluster.WaitForAllPartitionsAsync();
    }

    [Fact]
    public async Task Cutting_off_two_of_three_replicas_gives_a_typed_error_then_full_recovery_with_nothing_lost()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var grains = cluster.Grains;
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(grains);
        var ida = Guid.NewGuid();
        var ta = await grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        await using var b = await TestSession.OpenAsync(grains);
        var probe = new AcquireRequest(b.Id, Guid.NewGuid(), AcquireMode.IfAvailable, TimeSpan.Zero, null, TimeSpan.Zero);
        Assert.Equal(AcquireStatus.NotAvailable, (await grains.Lock(name).Acquire(probe)).Status);
        var config = await cluster.ConfigurationOfLockAsync(name);
        cluster.Partitions.Isolate(config.Members[0].Id.Value);
        cluster.Partitions.Isolate(config.Members[1].Id.Value);

        var error = await Assert.ThrowsAsync<QuorumUnavailableException>(() =>
            grains.Lock(name).Acquire(new AcquireRequest(b.Id, Guid.NewGuid(), AcquireMode.IfAvailable, TimeSpan.Zero, null, TimeSpan.Zero)));
        Assert.Equal("l/" + name, error.Key);
        await Assert.ThrowsAsync<QuorumUnavailableException>(() => grains.Lock(name).GetInfo());

        cluster.Partitions.HealAll();
        var info = await grains.InfoAsync(name);
        Assert.Equal(ta, info.Holder!.FencingToken);
        Assert.Equal(a.Info.Tag, info.Holder.SessionTag);
        await grains.ReleaseAsync(name, a.Id, ida, ta);
        Assert.True(await grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10)) > ta);
    }

    [Fact]
    public async Task A_dead_clients_lock_frees_even_when_its_session_grains_silo_dies_too()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var grains = cluster.Grains;
        var name = NewLock();
        var a = await TestSession.OpenAsync(grains);
        await using var b = await TestSession.OpenAsync(grains);
        var ta = await grains.AcquireAsync(name, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        var sessionHost = await cluster.HostOfAsync(grains.GetGrain<ISessionGrain>(a.Id));

        // The client dies, and so does the silo timing its lease: nobody will ever call that session again.
        await a.StopKeepAliveAsync();
        var lastSend = a.LastAckedSend;
        await cluster.Cluster.KillSiloAsync(cluster.Silo(sessionHost));

        var tb = await grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        var freedAfter = DateTime.UtcNow - lastSend;
        output.WriteLine($"freed {freedAfter.TotalSeconds:0.000} s after the last keepalive (TTL {CoordinationCluster.Ttl.TotalSeconds} s)");
        Assert.True(tb > ta);
        Assert.True(freedAfter >= CoordinationCluster.Ttl, $"freed after {freedAfter}: earlier than the TTL");
        Assert.True(freedAfter < 2 * CoordinationCluster.Ttl + TimeSpan.FromSeconds(3), $"freed after {freedAfter}: later than TTL + one TTL for the failover + 3 s");
    }

    [Fact]
    public async Task A_pending_lock_delay_restarts_in_full_after_the_lock_grains_silo_dies()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var grains = cluster.Grains;
        var name = NewLock();
        var a = await TestSession.OpenAsync(grains);
        await using var b = await TestSession.OpenAsync(grains);
        var delay = TimeSpan.FromSeconds(3);
        Assert.Equal(AcquireStatus.Granted, (await grains.Lock(name).Acquire(new AcquireRequest(a.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, delay))).Status);
        await a.StopKeepAliveAsync();
        await Eventually.Async(async () => (await grains.InfoAsync(name)).LockDelayActive, TimeSpan.FromSeconds(15), "the expired holder's lock-delay to start");

        var host = await cluster.HostOfAsync(grains.Lock(name));
        var killedAt = DateTime.UtcNow;
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        await grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        var grantedAfterKill = DateTime.UtcNow - killedAt;
        output.WriteLine($"granted {grantedAfterKill.TotalSeconds:0.000} s after the lock grain's silo died (lock-delay {delay.TotalSeconds} s)");
        Assert.True(grantedAfterKill >= delay, $"granted {grantedAfterKill} after the failover: the lock-delay was not restarted in full");
    }

    [Fact]
    public async Task Five_replicas_survive_losing_two()
    {
        await using var cluster = await CoordinationCluster.StartAsync(silos: 5, partitions: 4, replicationFactor: 5);
        var grains = cluster.Grains;
        var name = NewLock();
        await using var a = await TestSession.OpenAsync(grains);
        var ida = Guid.NewGuid();
        var ta = await grains.AcquireAsync(name, a.Id, ida, TimeSpan.FromSeconds(10));
        Assert.Equal(5, (await cluster.ConfigurationOfLockAsync(name)).Members.Length);
        var grainHost = await cluster.HostOfAsync(grains.Lock(name));
        var sessionHost = await cluster.HostOfAsync(grains.GetGrain<ISessionGrain>(a.Id));
        foreach (var victim in cluster.Cluster.GetActiveSilos().Where(s => s.SiloAddress != grainHost && s.SiloAddress != sessionHost).Take(2).ToList())
        {
            await cluster.Cluster.KillSiloAsync(victim);
        }

        var info = await grains.InfoAsync(name);
        Assert.Equal(ta, info.Holder!.FencingToken);
        await grains.ReleaseAsync(name, a.Id, ida, ta);
        Assert.True(await grains.AcquireAsync(name, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10)) > ta);
    }

    [Fact]
    public async Task Keepalives_are_acknowledged_only_with_a_majority_of_the_sessions_replicas()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var grains = cluster.Grains;
        await using var a = await TestSession.OpenAsync(grains, keepAlive: false);
        await a.Grain.KeepAlive(0);
        var metadata = await cluster.MetadataAsync();
        var config = metadata.Partitions[Coordination.Replication.Configuration.Partitioner.PartitionOf("s/" + a.Id, metadata.PartitionCount)];
        cluster.Partitions.Isolate(config.Members[0].Id.Value);
        cluster.Partitions.Isolate(config.Members[1].Id.Value);
        await Assert.ThrowsAsync<QuorumUnavailableException>(() => a.Grain.KeepAlive(0));
        cluster.Partitions.HealAll();
        var ack = await Eventually.Retry(() => a.Grain.KeepAlive(0), TimeSpan.FromSeconds(10), "keepalive after healing");
        Assert.Equal(CoordinationCluster.Ttl, ack.Ttl);
    }

    [Fact]
    public async Task After_a_full_restart_keys_stay_unavailable_until_an_audited_reinitialisation_and_tokens_keep_growing()
    {
        await using var cluster = await CoordinationCluster.StartAsync(silos: 3, partitions: 4);
        var grains = cluster.Grains;
        var name = NewLock();
        long before;
        await using (var a = await TestSession.OpenAsync(grains))
        {
            before = await grains.AcquireAsync(name, a.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        }

        // Every silo restarts: the in-memory replicas are gone, the metadata store is not.
        foreach (var silo in cluster.Cluster.GetActiveSilos().ToList())
        {
            await cluster.Cluster.StopSiloAsync(silo);
        }

        await cluster.Cluster.StartSilosAsync(3);
        await cluster.Cluster.InitializeClientAsync();
        grains = cluster.Grains;

        var lost = await Assert.ThrowsAnyAsync<CoordinationException>(() => grains.Lock(name).GetInfo());
        Assert.True(lost is ReplicasLostException or QuorumUnavailableException, lost.ToString());
        await Eventually.Async(async () =>
        {
            try
            {
                await grains.Lock(name).GetInfo();
                return false;
            }
            catch (ReplicasLostException)
            {
                return true;
            }
        }, TimeSpan.FromSeconds(20), "the lock to report its replicas lost (never silently empty)");

        var view = await grains.GetGrain<IClusterAdminGrain>(0).Reinitialize([], "test: full restart", "cluster-test");
        Assert.Equal(2, view.ClusterEpoch);
        Assert.Equal(("cluster-test", "reinitialize", "test: full restart"), (view.Audit[^1].Operator, view.Audit[^1].Action, view.Audit[^1].Reason));
        Assert.Equal(4, view.Audit[^1].Partitions.Length);

        await using var b = await TestSession.OpenAsync(grains);
        var after = await grains.AcquireAsync(name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(20));
        Assert.True(after > before, $"token {after} after the restart is not above {before}");
        Assert.Equal(2, after >> 40);
    }
}
