using System.Collections.Immutable;
using System.Net;
using System.Threading.Channels;
using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Grains.Values;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Coordination.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>
/// The failover sweeper never stops: a ping that keeps failing is given up, and the next death is swept
/// again (issue 11, item 5: the exception used to escape and end the watch for good).
/// </summary>
public sealed class FailoverSweeperTests
{
    private static readonly SiloAddress Self = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111), 1);

    [Fact]
    public async Task A_ping_that_keeps_failing_does_not_end_the_watch()
    {
        var time = new FakeTimeProvider();
        var membership = new FakeMembership();
        var node = new ReplicaNode(Self.ToReplicaId(), null!, null!, time);
        var config = new PartitionConfiguration(0, 1, [new(Self.ToReplicaId(), 1)], 1, 1, []);
        node.Partition(0).Adopt(config);
        node.Handle(new ReplicaRequest(0, 1, "s/alive", ReplicaOperation.Accept, new Ballot(1, 1), SessionRecord.Open(TimeSpan.FromSeconds(10)), new Ballot(2, 1)));

        var pings = 0;
        var sweeper = new FailoverSweeper(node, new SiloLiveness(membership, new LocalSilo()), (_, _) =>
        {
            // The first death's sweep fails every attempt; the second one's succeeds.
            return Interlocked.Increment(ref pings) <= 9 ? throw new TimeoutException("the grain's silo is gone") : Task.CompletedTask;
        }, time, NullLogger.Instance);
        await sweeper.Start(CancellationToken.None);
        try
        {
            await membership.Publish(Snapshot(1));
            await membership.Publish(Snapshot(2, dead: 12222));
            await AdvanceUntilAsync(time, () => Volatile.Read(ref pings) >= 9, "the first sweep to use up its retries");

            await membership.Publish(Snapshot(3, dead: 13333));
            await AdvanceUntilAsync(time, () => Volatile.Read(ref pings) >= 10, "the next death to be swept");
        }
        finally
        {
            await sweeper.Stop(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_silo_that_reads_its_own_death_sweeps_nothing()
    {
        var time = new FakeTimeProvider();
        var membership = new FakeMembership();
        var node = new ReplicaNode(Self.ToReplicaId(), null!, null!, time);
        node.Partition(0).Adopt(new PartitionConfiguration(0, 1, [new(Self.ToReplicaId(), 1)], 1, 1, []));
        node.Handle(new ReplicaRequest(0, 1, "s/alive", ReplicaOperation.Accept, new Ballot(1, 1), SessionRecord.Open(TimeSpan.FromSeconds(10)), new Ballot(2, 1)));
        var log = new FakeLogger();
        var pings = 0;
        var sweeper = new FailoverSweeper(node, new SiloLiveness(membership, new LocalSilo()), (_, _) =>
        {
            Interlocked.Increment(ref pings);
            return Task.CompletedTask;
        }, time, log);
        await sweeper.Start(CancellationToken.None);
        await membership.Publish(Snapshot(1));
        await membership.Publish(Snapshot(2, dead: 12222, selfDead: true));
        await Eventually.Async(() => Task.FromResult(membership.Unread == 0), TimeSpan.FromSeconds(10), "the sweeper reading the snapshot with its own death");

        // A sweep logs before its first await, so once the loops have stopped it would have shown.
        await sweeper.Stop(CancellationToken.None);
        Assert.Empty(log.Collector.GetSnapshot());
        Assert.Equal(0, Volatile.Read(ref pings));
    }

    [Fact]
    public async Task Leftovers_are_swept_without_a_death_and_live_sessions_and_pending_delays_only_after_one()
    {
        var node = new ReplicaNode(Self.ToReplicaId(), null!, null!, TimeProvider.System);
        node.Partition(0).Adopt(new PartitionConfiguration(0, 1, [new(Self.ToReplicaId(), 1)], 1, 1, []));
        var finished = LockRecord.Empty with { Finished = [new FinishedRequest("s", Guid.NewGuid(), 5, RequestEnd.Released, 3)] };
        var ended = SessionRecord.Open(TimeSpan.FromSeconds(10)) with { Status = SessionStatus.Expired, Shards = [4] };
        node.Handle(new ReplicaRequest(0, 1, "l/with-finished", ReplicaOperation.Accept, new Ballot(1, 1), finished, new Ballot(2, 1)));
        node.Handle(new ReplicaRequest(0, 1, "l/idle-holder", ReplicaOperation.Accept, new Ballot(1, 1), LockRecord.Empty with { Holder = new LockGrant("s", Guid.NewGuid(), 4, null, TimeSpan.Zero, TimeSpan.Zero) }, new Ballot(2, 1)));
        node.Handle(new ReplicaRequest(0, 1, "s/ending", ReplicaOperation.Accept, new Ballot(1, 1), ended, new Ballot(2, 1)));
        node.Handle(new ReplicaRequest(0, 1, "s/alive", ReplicaOperation.Accept, new Ballot(1, 1), SessionRecord.Open(TimeSpan.FromSeconds(10)), new Ballot(2, 1)));
        var value = ValueRecord.Empty with { Value = "v", Revision = 4 };
        node.Handle(new ReplicaRequest(0, 1, "v/with-finished", ReplicaOperation.Accept, new Ballot(1, 1), value with { Binding = finished }, new Ballot(2, 1)));
        node.Handle(new ReplicaRequest(0, 1, "v/vanished", ReplicaOperation.Accept, new Ballot(1, 1), value with { Binding = LockRecord.Empty with { Delay = new PendingDelay(TimeSpan.FromSeconds(10), 4) } }, new Ballot(2, 1)));
        var pinged = new List<string>();
        var sweeper = new FailoverSweeper(node, new SiloLiveness(new FakeMembership(), new LocalSilo()), (holding, name) =>
        {
            lock (pinged)
            {
                pinged.Add(holding is null ? $"session {name}" : holding.ToString());
            }

            return Task.CompletedTask;
        }, TimeProvider.System, NullLogger.Instance);

        // A holding's leftovers wait for a second sweep that finds its copy unchanged (a live activation lets go of them itself); an ending session does not wait.
        Assert.Equal(1, await sweeper.SweepAsync(afterDeath: false, CancellationToken.None));
        Assert.Equal(["session ending"], pinged);
        pinged.Clear();
        Assert.Equal(3, await sweeper.SweepAsync(afterDeath: false, CancellationToken.None));
        Assert.Equal(["Lock 'with-finished'", "Value 'with-finished'", "session ending"], pinged.Order(StringComparer.Ordinal));
        pinged.Clear();
        await sweeper.SweepAsync(afterDeath: true, CancellationToken.None);
        Assert.Equal(["Lock 'with-finished'", "Value 'vanished'", "Value 'with-finished'", "session alive", "session ending"], pinged.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_holdings_leftovers_are_pinged_only_after_two_sweeps_found_its_copy_unchanged()
    {
        var node = new ReplicaNode(Self.ToReplicaId(), null!, null!, TimeProvider.System);
        node.Partition(0).Adopt(new PartitionConfiguration(0, 1, [new(Self.ToReplicaId(), 1)], 1, 1, []));
        var finished = LockRecord.Empty with { Finished = [new FinishedRequest("s", Guid.NewGuid(), 5, RequestEnd.Released, 3)] };
        var later = LockRecord.Empty with { Finished = [new FinishedRequest("s", Guid.NewGuid(), 6, RequestEnd.Released, 4)] };
        node.Handle(new ReplicaRequest(0, 1, "l/stuck", ReplicaOperation.Accept, new Ballot(1, 1), finished, new Ballot(2, 1)));
        node.Handle(new ReplicaRequest(0, 1, "l/in-use", ReplicaOperation.Accept, new Ballot(1, 1), finished, new Ballot(2, 1)));
        node.Handle(new ReplicaRequest(0, 1, "l/retired", ReplicaOperation.Accept, new Ballot(1, 1), finished, new Ballot(2, 1)));
        var pinged = new List<string>();
        var sweeper = new FailoverSweeper(node, new SiloLiveness(new FakeMembership(), new LocalSilo()), (holding, _) =>
        {
            lock (pinged)
            {
                pinged.Add(holding!.Name);
            }

            return Task.CompletedTask;
        }, TimeProvider.System, NullLogger.Instance);

        Assert.Equal(0, await sweeper.SweepAsync(afterDeath: false, CancellationToken.None));

        // Between the sweeps: one lock's activation writes again (leftovers still, but not the same), another retires.
        node.Handle(new ReplicaRequest(0, 1, "l/in-use", ReplicaOperation.Accept, new Ballot(2, 1), later, new Ballot(3, 1)));
        node.Handle(new ReplicaRequest(0, 1, "l/retired", ReplicaOperation.Accept, new Ballot(2, 1), LockRecord.Empty, new Ballot(3, 1)));
        Assert.Equal(1, await sweeper.SweepAsync(afterDeath: false, CancellationToken.None));
        Assert.Equal(["stuck"], pinged);

        pinged.Clear();
        Assert.Equal(2, await sweeper.SweepAsync(afterDeath: false, CancellationToken.None));
        Assert.Equal(["in-use", "stuck"], pinged.Order(StringComparer.Ordinal));

        // A death does not wait: every leftover at once, whatever the sweeps before saw.
        node.Handle(new ReplicaRequest(0, 1, "l/in-use", ReplicaOperation.Accept, new Ballot(3, 1), finished, new Ballot(4, 1)));
        pinged.Clear();
        Assert.Equal(2, await sweeper.SweepAsync(afterDeath: true, CancellationToken.None));
        Assert.Equal(["in-use", "stuck"], pinged.Order(StringComparer.Ordinal));
    }

    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, string expectation)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Expected within 20 s: {expectation}.");
            time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Yield();
            await Task.Delay(5); // allowed: lets the sweeper's thread-pool work run between two steps of fake time
        }
    }

    private static ClusterMembershipSnapshot Snapshot(long version, int? dead = null, bool selfDead = false)
    {
        var members = ImmutableDictionary<SiloAddress, ClusterMember>.Empty.Add(Self, new ClusterMember(Self, selfDead ? SiloStatus.Dead : SiloStatus.Active, "self"));
        if (dead is { } port)
        {
            var silo = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1);
            members = members.Add(silo, new ClusterMember(silo, SiloStatus.Dead, $"dead-{port}"));
        }

        return new ClusterMembershipSnapshot(members, new MembershipVersion(version));
    }

    private sealed class LocalSilo : ILocalSiloDetails
    {
        public string Name => "self";

        public string ClusterId => "test";

        public string DnsHostName => "localhost";

        public SiloAddress SiloAddress => Self;

        public SiloAddress GatewayAddress => Self;
    }

    private sealed class FakeMembership : IClusterMembershipService
    {
        private readonly Channel<ClusterMembershipSnapshot> _updates = Channel.CreateUnbounded<ClusterMembershipSnapshot>();

        public ClusterMembershipSnapshot CurrentSnapshot { get; private set; } = Snapshot(0);

        public IAsyncEnumerable<ClusterMembershipSnapshot> MembershipUpdates => _updates.Reader.ReadAllAsync();

        public int Unread => _updates.Reader.Count;

        public async Task Publish(ClusterMembershipSnapshot snapshot)
        {
            CurrentSnapshot = snapshot;
            await _updates.Writer.WriteAsync(snapshot);
        }

        public ValueTask Refresh(MembershipVersion minimumVersion = default, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public Task<bool> TryKill(SiloAddress siloAddress) => Task.FromResult(false);
    }
}
