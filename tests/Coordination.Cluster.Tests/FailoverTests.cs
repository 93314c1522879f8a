using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>
/// Silo failures under a held lock: two case tables (faults the holder must survive; a dead holder's lock
/// freed on time across a silo's death) and the cases of their own. Each case gets its own cluster, since
/// it destroys silos.
/// </summary>
public sealed class FailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string NewLock() => $"failover/{Guid.NewGuid():N}";

    /// <summary>
    /// A fault under a held lock. <see cref="Strike"/> may queue waiters first and check the cluster during
    /// the fault, and heals what it cut; <see cref="Then"/> checks what is particular to the case once the
    /// lock has been handed on, given the last token granted.
    /// </summary>
    private sealed record HolderFault(string Name, Func<HeldLock, Task> Strike, Func<HeldLock, long, Task>? Then = null, short Silos = 4, int Partitions = 8, int ReplicationFactor = 3);

    private static readonly HolderFault[] HolderFaults =
    [
        new("the silo hosting the lock grain is killed, with two waiters queued", async held =>
        {
            await held.QueueAsync(2);
            await held.KillHostOfAsync(held.Lock);
        }),
        new("a replica silo not hosting the lock grain is killed, and the replica is replaced", KillAReplicaAsync, CheckTheReplicaReplacedAsync),
        new("two of the three replicas are cut off, with a typed error until they are healed", CutOffTwoReplicasAsync),
        new("two of five replicas are killed", KillTwoOfFiveAsync, Silos: 5, Partitions: 4, ReplicationFactor: 5),
    ];

    public static TheoryData<string> HolderFaultNames => [.. HolderFaults.Select(f => f.Name)];

    [Theory]
    [MemberData(nameof(HolderFaultNames))]
    public async Task A_held_lock_keeps_its_holder_and_queue_and_its_next_tokens_rise(string fault)
    {
        var c = HolderFaults.Single(f => f.Name == fault);
        await using var held = await HeldLock.StartAsync(c.Silos, c.Partitions, c.ReplicationFactor);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await c.Strike(held);
        output.WriteLine($"fault over after {sw.Elapsed}");

        var info = await held.Grains.InfoAsync(held.Name);
        output.WriteLine($"info after {sw.Elapsed}");
        Assert.Equal(held.Holder, info.Holder);
        Assert.Equal(held.Waiters.Select(w => w.Session.Info.Tag), info.Waiters.Select(w => w.SessionTag));
        Assert.DoesNotContain(await held.Cluster.HostOfAsync(held.Lock), held.Killed);

        // Handed on: each waiter in queue order, the next one still waiting, then a new request of the holder's session.
        await held.Grains.ReleaseAsync(held.Name, held.A.Id, held.RequestId, held.Token);
        var last = held.Token;
        for (var i = 0; i < held.Waiters.Count; i++)
        {
            var (session, requestId, grant) = held.Waiters[i];
            var token = await grant;
            output.WriteLine($"waiter {i + 1} granted after {sw.Elapsed}");
            Assert.True(token > last, $"token after failover {token} is not above {last}");
            Assert.True(i + 1 == held.Waiters.Count || !held.Waiters[i + 1].Grant.IsCompleted, $"waiter {i + 2} was granted while waiter {i + 1} held the lock");
            await held.Grains.ReleaseAsync(held.Name, session.Id, requestId, token);
            last = token;
        }

        var next = await held.Grains.AcquireAsync(held.Name, held.A.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        Assert.True(next > last, $"token after failover {next} is not above {last}");
        if (c.Then is not null)
        {
            await c.Then(held, next);
        }
    }

    private static async Task KillAReplicaAsync(HeldLock held)
    {
        var grainHost = await held.Cluster.HostOfAsync(held.Lock);
        var members = held.Configuration.Members.Select(m => SiloAddress.FromParsableString(m.Id.Value)).ToList();
        await held.KillAsync(members.FirstOrDefault(s => s != grainHost && held.Cluster.Cluster.GetSiloForAddress(s) is not null) ?? members[0]);
    }

    /// <summary>The dead replica is replaced by the spare silo, which catches up with the last grant.</summary>
    private static async Task CheckTheReplicaReplacedAsync(HeldLock held, long last)
    {
        var victim = held.Killed.Single().ToParsableString();
        await Eventually.Async(async () =>
        {
            var now = await held.Cluster.ConfigurationOfLockAsync(held.Name);
            return now.Epoch > held.Configuration.Epoch && !now.Contains(new(victim)) && now.Recovering.IsDefaultOrEmpty;
        }, TimeSpan.FromSeconds(20), "the dead replica replaced and the newcomer caught up");
        var replicas = await held.Cluster.LockReplicasAsync(held.Name);
        Assert.Equal(3, replicas.Count);
        Assert.DoesNotContain(replicas, r => r.Replica == victim);
        Assert.True(replicas.Count(r => r.Record?.Holder?.Token == last) >= 2);
        await held.Cluster.WaitForAllPartitionsAsync();
    }

    private static async Task CutOffTwoReplicasAsync(HeldLock held)
    {
        var b = await held.OpenSessionAsync();
        AcquireRequest Probe()
        {
            var id = Guid.NewGuid();
            return new(b.Id, id, AcquireMode.IfAvailable, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(b.Id, id));
        }

        Assert.Equal(AcquireStatus.NotAvailable, (await held.Lock.Acquire(Probe())).Status);
        held.Cluster.Partitions.Isolate(held.Configuration.Members[0].Id.Value);
        held.Cluster.Partitions.Isolate(held.Configuration.Members[1].Id.Value);

        var error = await Assert.ThrowsAsync<QuorumUnavailableException>(() => held.Lock.Acquire(Probe()));
        Assert.Equal("l/" + held.Name, error.Key);
        await Assert.ThrowsAsync<QuorumUnavailableException>(held.Lock.GetInfo);
        held.Cluster.Partitions.HealAll();
    }

    private static async Task KillTwoOfFiveAsync(HeldLock held)
    {
        Assert.Equal(5, held.Configuration.Members.Length);
        var grainHost = await held.Cluster.HostOfAsync(held.Lock);
        var sessionHost = await held.Cluster.HostOfAsync(held.A.Grain);
        foreach (var victim in held.Cluster.Cluster.GetActiveSilos().Select(s => s.SiloAddress).Where(s => s != grainHost && s != sessionHost).Take(2).ToList())
        {
            await held.KillAsync(victim);
        }
    }

    /// <summary>
    /// A holder whose client died, and a silo dying before its lock is freed. <see cref="Before"/> waits for
    /// the state the kill must hit; <see cref="Victim"/> picks the grain whose silo dies; <see cref="Timing"/>
    /// judges when the lock was freed, from the last acknowledged keepalive and from the kill.
    /// </summary>
    private sealed record DeadHolderCase(string Name, TimeSpan LockDelay, Func<HeldLock, Task> Before, Func<HeldLock, IAddressable> Victim, Action<TimeSpan, TimeSpan> Timing);

    private static readonly TimeSpan LockDelay = TimeSpan.FromSeconds(3);

    private static readonly DeadHolderCase[] DeadHolderCases =
    [
        new("the silo timing the session dies too: freed one TTL after the last keepalive, plus at most one TTL for the failover and 3 s",
            TimeSpan.Zero,
            _ => Task.CompletedTask,
            held => held.A.Grain,
            (sinceLastAck, _) =>
            {
                Assert.True(sinceLastAck >= CoordinationCluster.Ttl, $"freed after {sinceLastAck}: earlier than the TTL");
                Assert.True(sinceLastAck < 2 * CoordinationCluster.Ttl + TimeSpan.FromSeconds(3), $"freed after {sinceLastAck}: later than TTL + one TTL for the failover + 3 s");
            }),
        new("the lock grain's silo dies during the lock-delay: the delay restarts in full",
            LockDelay,
            held => Eventually.Async(async () => (await held.Grains.InfoAsync(held.Name)).LockDelayActive, TimeSpan.FromSeconds(15), "the expired holder's lock-delay to start"),
            held => held.Lock,
            (_, sinceKill) => Assert.True(sinceKill >= LockDelay, $"granted {sinceKill} after the failover: the lock-delay was not restarted in full")),
    ];

    public static TheoryData<string> DeadHolderCaseNames => [.. DeadHolderCases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(DeadHolderCaseNames))]
    public async Task A_dead_holders_lock_is_freed_on_time_when_a_silo_dies_too(string @case)
    {
        var c = DeadHolderCases.Single(d => d.Name == @case);
        await using var held = await HeldLock.StartAsync(lockDelay: c.LockDelay);
        var b = await held.OpenSessionAsync();

        // The client dies: nobody will ever call its session again.
        await held.A.StopKeepAliveAsync();
        var lastSend = held.A.LastAckedSend;
        await c.Before(held);
        var killedAt = DateTime.UtcNow;
        await held.KillHostOfAsync(c.Victim(held));

        var next = await held.Grains.AcquireAsync(held.Name, b.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        var (sinceLastAck, sinceKill) = (DateTime.UtcNow - lastSend, DateTime.UtcNow - killedAt);
        output.WriteLine($"freed {sinceLastAck.TotalSeconds:0.000} s after the last keepalive (TTL {CoordinationCluster.Ttl.TotalSeconds} s), {sinceKill.TotalSeconds:0.000} s after the kill (lock-delay {c.LockDelay.TotalSeconds} s)");
        Assert.True(next > held.Token, $"token {next} after the failover is not above {held.Token}");
        c.Timing(sinceLastAck, sinceKill);
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
