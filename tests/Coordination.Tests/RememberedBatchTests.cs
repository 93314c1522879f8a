using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Options;

namespace Coordination.Tests;

/// <summary>
/// A register that remembers the request ids of its last N changes never folds more than N changes into one accept
/// (review of 18664df): a larger batch chosen behind a failed round and applied again would find its earliest
/// changes forgotten and fail them as unknown although they were applied.
/// </summary>
public sealed class RememberedBatchTests
{
    private static readonly ReplicaId A = new("a");

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    public async Task No_accept_carries_more_changes_than_the_register_remembers(int remembered)
    {
        var (factory, transport) = OneReplica();
        var register = factory.Create<Cell>("c/orders", remembered);

        // The first change's accept is held, so the rest queue behind it and are folded into the next batches.
        var changes = Enumerable.Range(0, 300).Select(_ => register.ExecuteAsync((c, _) => (new Cell((c?.Value ?? 0) + 1), 0))).ToList();
        transport.Release();
        await Task.WhenAll(changes);

        var accepted = transport.Accepted;
        Assert.Equal(300, accepted[^1]);
        var largest = accepted.Zip(accepted.Skip(1), (a, b) => b - a).Max();
        Assert.True(largest == remembered, $"the largest batch folded {largest} changes (accepted values {string.Join(", ", accepted)})");
    }

    [Fact]
    public async Task Control_without_a_bound_the_queued_changes_go_in_one_accept()
    {
        var (factory, transport) = OneReplica();
        var register = factory.Create<Cell>("c/orders");
        var changes = Enumerable.Range(0, 200).Select(_ => register.ExecuteAsync((c, _) => (new Cell((c?.Value ?? 0) + 1), 0))).ToList();
        transport.Release();
        await Task.WhenAll(changes);
        Assert.Equal([1, 200], transport.Accepted);
    }

    private static (RegisterFactory Factory, HeldTransport Transport) OneReplica()
    {
        var store = new InMemoryClusterMetadataStore();
        var configuration = new PartitionConfiguration(0, 1, [new(A, 1)], 1, 1, []);
        var node = new ReplicaNode(A, null!, store, TimeProvider.System, new ReplicaNodeOptions());
        node.Adopt(configuration);
        var transport = new HeldTransport(node);
        return (new RegisterFactory(new FixedDirectory(configuration), transport, TimeProvider.System, Options.Create(new ReplicationOptions())), transport);
    }

    private sealed record Cell(int Value);

    /// <summary>Hands every message to the one replica; accepts wait until <see cref="Release"/>, and their values are noted.</summary>
    private sealed class HeldTransport(ReplicaNode node) : IReplicaTransport
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<int> Accepted { get; } = [];

        public void Release() => _released.SetResult();

        public async Task<ReplicaReply> SendAsync(ReplicaId target, ReplicaRequest request, CancellationToken cancellationToken)
        {
            if (request.Operation == ReplicaOperation.Accept)
            {
                await _released.Task;
                lock (Accepted)
                {
                    Accepted.Add(((Cell)request.Value!).Value);
                }
            }

            return node.Handle(request);
        }

        public Task<SnapshotReply> SnapshotAsync(ReplicaId target, SnapshotRequest request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("one replica never copies");

        public Task AdoptAsync(ReplicaId target, PartitionConfiguration configuration, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
