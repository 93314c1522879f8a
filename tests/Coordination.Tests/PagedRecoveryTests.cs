using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Coordination.TestKit;

namespace Coordination.Tests;

/// <summary>
/// A replacement replica copies its partition in pages, from a majority, merging as pages arrive: no message
/// carries more than a page whatever the partition's size, and a page that fails is asked for again from
/// its cursor (issue 11, item 3: the whole partition used to travel in one message under a 5 s timeout).
/// </summary>
public sealed class PagedRecoveryTests
{
    private static readonly ReplicaId A = new("a"), B = new("b"), C = new("c"), D = new("d");

    [Fact]
    public async Task A_replacement_copies_a_large_partition_in_pages_and_resumes_a_failed_page()
    {
        const int Keys = 3000;
        var nodes = new Dictionary<ReplicaId, ReplicaNode>();
        var transport = new FlakyTransport(nodes);
        var store = new InMemoryClusterMetadataStore();
        var genesis = new PartitionConfiguration(0, 1, [new(A, 1), new(B, 1), new(C, 1)], 1, 1, []);
        var replaced = new PartitionConfiguration(0, 2, [new(A, 1), new(B, 1), new(D, 2)], 1, 1, [D]);
        await store.TryWriteAsync(0, ClusterMetadata.Create(1, 3, new AuditEntry(DateTimeOffset.UnixEpoch, "t", "create", "t", 1, [])).WithPartitions([replaced]));
        foreach (var id in new[] { A, B })
        {
            var node = new ReplicaNode(id, transport, store, TimeProvider.System, new ReplicaNodeOptions { RecoveryBackoff = TimeSpan.FromMilliseconds(5) });
            node.Adopt(genesis);
            for (var i = 0; i < Keys; i++)
            {
                node.Handle(new ReplicaRequest(0, 1, $"l/k{i:0000}", ReplicaOperation.Accept, new Ballot(1, 1), $"v{i}", new Ballot(2, 1)));
            }

            node.Handle(new ReplicaRequest(0, 1, "l/deleted", ReplicaOperation.Accept, new Ballot(3, 1), null, new Ballot(4, 1), TokenFloor: 777));
            nodes[id] = node;
        }

        var newcomer = new ReplicaNode(D, transport, store, TimeProvider.System, new ReplicaNodeOptions { RecoveryBackoff = TimeSpan.FromMilliseconds(5) });
        nodes[D] = newcomer;
        newcomer.Adopt(replaced);
        await Eventually.Async(() => newcomer.IsCaughtUp, TimeSpan.FromSeconds(20), "the newcomer to finish copying");

        var replica = newcomer.Partition(0);
        Assert.Equal(ReplicaRole.Active, replica.Role);
        Assert.Equal(Keys + 1, replica.Count);
        Assert.Equal(777, replica.TokenFloor);
        Assert.Equal("v1234", replica.Handle(new ReplicaRequest(0, 2, "l/k1234", ReplicaOperation.Prepare, new Ballot(9, 2), null, Ballot.Zero)).Value);
        Assert.True(transport.Failed > 0, "no page failed: the resume path was not exercised");
        Assert.True(transport.LargestPage <= new SnapshotRequest(replaced, D).MaxSlots, $"a page carried {transport.LargestPage} registers");
        Assert.True(transport.Pages >= 2 * (Keys / transport.LargestPage), $"{transport.Pages} pages for {Keys} registers from two sources");
    }

    /// <summary>Calls the target node directly; fails every fifth snapshot call (before it reaches the source).</summary>
    private sealed class FlakyTransport(Dictionary<ReplicaId, ReplicaNode> nodes) : IReplicaTransport
    {
        private int _calls;

        public int Failed { get; private set; }

        public int Pages { get; private set; }

        public int LargestPage { get; private set; }

        public Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request, CancellationToken cancellationToken) =>
            Task.FromResult(nodes[target].Handle(request));

        public Task<SnapshotReply> SnapshotAsync(ReplicaId target, SnapshotRequest request, CancellationToken cancellationToken)
        {
            lock (this)
            {
                if (++_calls % 5 == 0)
                {
                    Failed++;
                    return Task.FromException<SnapshotReply>(new TimeoutException("page lost"));
                }

                var reply = nodes[target].Snapshot(request);
                Pages++;
                LargestPage = Math.Max(LargestPage, reply.Slots.Length);
                return Task.FromResult(reply);
            }
        }

        public Task AdoptAsync(ReplicaId target, PartitionConfiguration configuration, CancellationToken cancellationToken)
        {
            nodes[target].Adopt(configuration);
            return Task.CompletedTask;
        }
    }
}
