using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>
/// A session's detaches wait a moment in their shard's queue for the shard's next change: a lock per entity hashes each
/// name to another shard, so a detach that left at once cost a round of its own, and one that waits goes with the next
/// attach there. Nothing waits on a detach but the lock that keeps its finished request meanwhile.
/// </summary>
public sealed class DetachLingerTests
{
    private const string SessionId = "lingering";
    private static readonly ReplicaId A = new("a");

    [Fact]
    public async Task A_detach_goes_in_the_round_of_the_next_attach_to_its_shard()
    {
        var (holdings, transport, _) = await OpenAsync();
        var (first, second) = TwoLocksInOneShard();
        await holdings.AttachAsync(first, 1, 0, []);
        var before = transport.AcceptsTo(ShardKey(first));

        var detach = holdings.DetachManyAsync([new Attachment(first, 1)]);
        Assert.False(detach.IsCompleted, "a detach waits for company");

        await holdings.AttachAsync(second, 2, 0, []);
        Assert.Empty(await detach.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(before + 1, transport.AcceptsTo(ShardKey(first)));
        var shard = holdings.Shard(SessionShards.Of(first)).CachedValue!;
        Assert.Equal([new Attachment(second, 2)], shard.Attached);
        Assert.Contains(1L, shard.Settled);
    }

    [Fact]
    public async Task A_detach_with_no_company_goes_round_alone_when_its_linger_is_over()
    {
        var (holdings, transport, time) = await OpenAsync();
        var (first, _) = TwoLocksInOneShard();
        await holdings.AttachAsync(first, 1, 0, []);
        var before = transport.AcceptsTo(ShardKey(first));

        var detach = holdings.DetachManyAsync([new Attachment(first, 1)]);
        time.Advance(SessionHoldings.DetachLinger - TimeSpan.FromMilliseconds(1));
        await Task.Yield();
        Assert.False(detach.IsCompleted, "the detach left before its linger was over");

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Empty(await detach.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(before + 1, transport.AcceptsTo(ShardKey(first)));
        Assert.Empty(holdings.Shard(SessionShards.Of(first)).CachedValue!.Attached);
    }

    private static string ShardKey(Holding holding) => RegisterKeys.SessionShard(SessionId, SessionShards.Of(holding));

    private static (Holding First, Holding Second) TwoLocksInOneShard()
    {
        var first = Holding.Lock("orders/0");
        var second = Enumerable.Range(1, 10_000).Select(i => Holding.Lock($"orders/{i}")).First(h => SessionShards.Of(h) == SessionShards.Of(first));
        return (first, second);
    }

    private static async Task<(SessionHoldings Holdings, CountingTransport Transport, FakeTimeProvider Time)> OpenAsync()
    {
        var time = new FakeTimeProvider();
        var configuration = new PartitionConfiguration(0, 1, [new(A, 1)], 1, 1, []);
        var node = new ReplicaNode(A, null!, new InMemoryClusterMetadataStore(), time, new ReplicaNodeOptions());
        node.Adopt(configuration);
        var transport = new CountingTransport(node);
        var factory = new RegisterFactory(new FixedDirectory(configuration), transport, time, Options.Create(new ReplicationOptions()));
        var session = factory.Create<SessionRecord>(RegisterKeys.Session(SessionId));
        await session.ExecuteAsync((_, _) => (SessionRecord.Open(TimeSpan.FromSeconds(10)), true));
        return (new SessionHoldings(SessionId, factory, session), transport, time);
    }

    /// <summary>Hands every message to the one replica at once and counts the accepts each key got.</summary>
    private sealed class CountingTransport(ReplicaNode node) : IReplicaTransport
    {
        private readonly Dictionary<string, int> _accepts = new(StringComparer.Ordinal);

        public ReplicaId? Self => A;

        public int AcceptsTo(string key)
        {
            lock (_accepts)
            {
                return _accepts.GetValueOrDefault(key);
            }
        }

        public Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request, CancellationToken cancellationToken)
        {
            if (request.Operation == ReplicaOperation.Accept)
            {
                lock (_accepts)
                {
                    _accepts[request.Key] = _accepts.GetValueOrDefault(request.Key) + 1;
                }
            }

            return Task.FromResult(node.Handle(request));
        }

        public Task<SnapshotReply> SnapshotAsync(ReplicaId target, SnapshotRequest request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("one replica never copies");

        public Task AdoptAsync(ReplicaId target, PartitionConfiguration configuration, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
