using Coordination.Framing;
using System.Net;
using System.Net.Sockets;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;

namespace Coordination.Cluster.Tests;

/// <summary>
/// The direct replica transport between real silos: once silos know each other's ports, replica batches travel on
/// their own connections; a listener answers only connections meant for its own incarnation, and drops batches
/// fault injection cuts off.
/// </summary>
public sealed class DirectTransportTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private CoordinationCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Replica_batches_between_silos_travel_on_direct_connections()
    {
        var name = $"orders/{Guid.NewGuid():N}";
        await using var session = await TestSession.OpenAsync(Cluster.Grains);
        await PairAsync(name, session);
        var host = Cluster.Silo(await Cluster.HostOfAsync(Cluster.Grains.GetGrain<ILockGrain>(name)));
        var transport = host.ServiceProvider.GetRequiredService<OrleansReplicaTransport>();
        await Eventually.Async(
            async () =>
            {
                await PairAsync(name, session);
                return transport.DirectReplies > 0;
            },
            Wait,
            "the lock's silo to have replica batches answered on a direct connection");
    }

    [Fact]
    public async Task A_listener_answers_only_connections_meant_for_its_own_silo()
    {
        var (silo, port) = Listener(0);
        var stranger = new ReplicaId(SiloAddress.New(IPAddress.Loopback, 1, 1).ToParsableString());

        using (var wrong = await ConnectAsync(port, stranger, new ReplicaId(SiloAddress.New(silo.Endpoint, silo.Generation + 1).ToParsableString())))
        {
            await wrong.SendAsync(Frame(1));
            Assert.Null(await ReadAsync(wrong));
        }

        using var right = await ConnectAsync(port, stranger, silo.ToReplicaId());
        await right.SendAsync(Frame(2));
        Assert.Equal(2, (await ReadAsync(right))?.Id);
    }

    [Fact]
    public async Task A_listener_drops_batches_and_the_connection_of_a_silo_cut_off_by_fault_injection()
    {
        var (silo, port) = Listener(1);
        var cutOff = new ReplicaId(SiloAddress.New(IPAddress.Loopback, 2, 2).ToParsableString());
        using (var connection = await ConnectAsync(port, cutOff, silo.ToReplicaId()))
        {
            Cluster.Partitions.Isolate(cutOff.Value);
            try
            {
                await connection.SendAsync(Frame(1));
                Assert.Null(await ReadAsync(connection));
            }
            finally
            {
                Cluster.Partitions.HealAll();
            }
        }

        using var healed = await ConnectAsync(port, cutOff, silo.ToReplicaId());
        await healed.SendAsync(Frame(2));
        Assert.Equal(2, (await ReadAsync(healed))?.Id);
    }

    [Fact]
    public async Task A_listener_closes_a_connection_whose_hello_does_not_arrive_in_time_however_it_trickles()
    {
        var (_, port) = Listener(2);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var opened = DateTime.UtcNow;

        // A well-formed hello of a 100-byte body, a byte every half second at most: each well within the hello's
        // time, the whole of it not before a minute.
        byte[] hello = [.. DirectFrames.Magic, .. DirectFrames.Frame(0, FrameKind.Hello, new byte[100])];
        var closed = false;
        for (var sent = 0; !closed && DateTime.UtcNow - opened < DirectReplicaListener.HelloTimeout * 4; sent++)
        {
            try
            {
                await socket.SendAsync(hello.AsMemory(sent, 1));
                closed = await socket.ReceiveAsync(new byte[1]).WaitAsync(TimeSpan.FromMilliseconds(500)) == 0;
            }
            catch (TimeoutException)
            {
                // Still open: the next byte.
            }
            catch (SocketException)
            {
                closed = true;
            }
        }

        Assert.True(closed, $"the listener kept a connection trickling its hello for {DirectReplicaListener.HelloTimeout * 4}");
        // Not at a byte's pause: at the hello's time (its timer starts as the listener takes the connection, a moment
        // before this end hears that it is made).
        Assert.InRange(DateTime.UtcNow - opened, DirectReplicaListener.HelloTimeout - TimeSpan.FromSeconds(1), DirectReplicaListener.HelloTimeout * 4);
    }

    [Fact]
    public async Task Concurrent_batches_of_every_size_on_one_connection_each_get_their_own_replies()
    {
        // The real sending end (DirectReplicaLinks and its DirectConnection) against a silo's real listener: batches of
        // 1 to 64 requests and replies from a few bytes to several hundred KiB (past what a connection end's buffers
        // keep), sent from many threads at once, each checked against its own requests; both ends serialize into and
        // read into buffers they reuse, so a reply decoded from a buffer the next frame overwrote, or matched to
        // another batch, shows here.
        //
        // A silo that holds replicas (three on four silos; a busy machine's probes may have declared one dead), and keys
        // of the partitions it is a member of.
        await Cluster.WaitForAllPartitionsAsync();
        var metadata = await Cluster.MetadataAsync();
        var index = Enumerable.Range(0, Cluster.Cluster.Silos.Count)
            .MaxBy(i => metadata.Partitions.Count(p => p.Contains(Cluster.Cluster.Silos[i].SiloAddress.ToReplicaId())));
        var (silo, port) = Listener(index);
        var target = silo.ToReplicaId();
        var prefix = $"t/direct-frames/{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, 100_000).Select(i => prefix + i)
            .Where(key => metadata.Partitions[Partitioner.PartitionOf(key, metadata.PartitionCount)].Contains(target))
            .Take(64)
            .ToList();
        Assert.True(keys.Count == 64, $"{target} is a member of {metadata.Partitions.Count(p => p.Contains(target))} partitions");
        using var links = new DirectReplicaLinks(
            new ReplicaId(SiloAddress.New(IPAddress.Loopback, 3, 3).ToParsableString()),
            Cluster.Cluster.Silos[index].ServiceProvider.GetRequiredService<Serializer>(),
            TimeProvider.System,
            TimeSpan.FromSeconds(30),
            tls: null,
            NullLogger.Instance);
        Func<ReplicaId, Task<int>> askPort = _ => Task.FromResult(port);
        await Eventually.Async(() => links.TrySend(target, [], askPort) is not null, Wait, "a direct connection to the listener");
        var bound = links.Bound(target)!.Value;

        ReplicaRequest Request(string key, ReplicaOperation operation, Ballot ballot, object? value, Ballot next)
        {
            var partition = Partitioner.PartitionOf(key, metadata.PartitionCount);
            return new(partition, metadata.Partitions[partition].Epoch, key, operation, ballot, value, next);
        }

        await Eventually.Async(
            async () => (await links.TrySend(target, [.. keys.Select(key => Request(key, ReplicaOperation.Status, Ballot.Zero, null, Ballot.Zero))], askPort)!)
                .All(reply => reply.Status == ReplicaStatus.Ok),
            Wait,
            "the listener's replica active at the configurations' epochs in the partitions of the keys");

        // Values unique to their key, of four sizes up to a quarter of what the connection leaves unanswered (a batch
        // above half of it is always declined).
        var proposer = Random.Shared.NextInt64(1, long.MaxValue);
        var accepted = new Ballot(1_000_000, proposer);
        int[] sizes = [16, 1_000, bound / 16, (bound / 4) - 512];
        var values = keys.Select((key, i) => (key, i)).ToDictionary(
            k => k.key,
            k => Enumerable.Range(0, sizes[k.i % sizes.Length]).Select(j => (byte)((k.i * 31) + j)).ToArray());
        Assert.True(values.Values.Sum(v => v.Length) > FrameScratch.MaxKept, $"the values fit a kept buffer (a send buffer of {bound * 4} bytes)");

        // Accepts, in batches of at most a quarter of the bound in values, all at once.
        var writes = new List<ReplicaRequest[]>();
        foreach (var key in values.Keys.OrderBy(_ => Random.Shared.Next()))
        {
            var request = Request(key, ReplicaOperation.Accept, accepted, values[key], new Ballot(accepted.Counter + 1, proposer));
            if (writes.Count == 0 || writes[^1].Sum(r => ((byte[])r.Value!).Length) + values[key].Length > bound / 4)
            {
                writes.Add([request]);
            }
            else
            {
                writes[^1] = [.. writes[^1], request];
            }
        }

        foreach (var (batch, replies) in await SendAllAsync(links, target, writes, askPort))
        {
            Assert.All(replies.Zip(batch), pair => Assert.True(pair.First is { Status: ReplicaStatus.Ok } && pair.First.Accepted == accepted, $"{pair.Second.Key}: accept answered {pair.First}"));
        }

        // Reads (prepares) in rounds: every key once a round, split into batches of random sizes sent at once; the last
        // round reads every key in one batch, whose reply is larger than a connection end keeps a buffer for.
        for (var round = 0; round < 6; round++)
        {
            var ballot = new Ballot(accepted.Counter + 10 + round, proposer);
            var order = keys.OrderBy(_ => Random.Shared.Next()).ToList();
            var reads = new List<ReplicaRequest[]>();
            for (var taken = 0; taken < order.Count;)
            {
                var count = round == 5 ? order.Count : Math.Min(Random.Shared.Next(1, 17), order.Count - taken);
                reads.Add([.. order.Skip(taken).Take(count).Select(key => Request(key, ReplicaOperation.Prepare, ballot, null, Ballot.Zero))]);
                taken += count;
            }

            foreach (var (batch, replies) in await SendAllAsync(links, target, reads, askPort))
            {
                Assert.All(replies.Zip(batch), pair =>
                {
                    Assert.True(pair.First is { Status: ReplicaStatus.Ok } && pair.First.Accepted == accepted, $"{pair.Second.Key}: read answered {pair.First}");
                    Assert.True(values[pair.Second.Key].AsSpan().SequenceEqual(pair.First.Value as byte[]), $"{pair.Second.Key}: read another value ({(pair.First.Value as byte[])?.Length} bytes, {values[pair.Second.Key].Length} written)");
                });
            }
        }

        Assert.True(links.Connected(target), "the connection broke");
    }

    private async Task PairAsync(string name, TestSession session)
    {
        var id = Guid.NewGuid();
        var token = await Cluster.Grains.AcquireAsync(name, session.Id, id, TimeSpan.FromSeconds(30));
        Assert.Equal(ReleaseOutcome.Released, await Cluster.Grains.ReleaseAsync(name, session.Id, id, token));
    }

    /// <summary>
    /// Sends every batch at once, each from a thread of its own, on <paramref name="links"/>' connection (a batch it
    /// declines, having too much unanswered for now, is sent again once another batch is answered after its try: a
    /// connection settles a batch's bytes before its reply task completes), and returns each batch with its replies,
    /// checked to be one per request.
    /// </summary>
    private static async Task<(ReplicaRequest[] Batch, ReplicaReply[] Replies)[]> SendAllAsync(DirectReplicaLinks links, ReplicaId target, List<ReplicaRequest[]> batches, Func<ReplicaId, Task<int>> askPort)
    {
        // Completed (and replaced) whenever a batch is answered.
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return await Task.WhenAll(batches.Select(batch => Task.Run(async () =>
        {
            while (true)
            {
                // Read before the send: a batch answered after it freed the room that declined this one.
                var next = Volatile.Read(ref answered).Task;
                if (links.TrySend(target, batch, askPort) is { } sent)
                {
                    var replies = await sent.WaitAsync(Wait);
                    Interlocked.Exchange(ref answered, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                    Assert.Equal(batch.Length, replies.Length);
                    return (batch, replies);
                }

                try
                {
                    await next.WaitAsync(Wait);
                }
                catch (TimeoutException)
                {
                    Assert.Fail($"a batch of {batch.Length} requests was declined and no other batch was answered within {Wait}");
                }
            }
        })));
    }

    private (SiloAddress Silo, int Port) Listener(int index)
    {
        var handle = Cluster.Cluster.Silos[index];
        var port = handle.ServiceProvider.GetRequiredService<DirectReplicaListener>().Port;
        Assert.True(port > 0, $"silo {index} does not listen for direct replica batches");
        return (handle.SiloAddress, port);
    }

    private static async Task<Socket> ConnectAsync(int port, ReplicaId from, ReplicaId to)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(DirectFrames.Hello(from, to));
        return socket;
    }

    /// <summary>A batch of one request no replica acts on (epoch 0 is below every configuration's): it is answered, and changes nothing.</summary>
    private byte[] Frame(long id)
    {
        var serializer = Cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<Serializer>();
        ReplicaRequest[] batch = [new(0, 0, "t/direct-transport-test", ReplicaOperation.Prepare, Ballot.Zero, null, Ballot.Zero)];
        return DirectFrames.Frame(id, FrameKind.Batch, serializer.SerializeToArray(batch));
    }

    /// <summary>The next frame; null when the listener closed the connection (an end, or a reset of what it left unread).</summary>
    private static async Task<ReplicaFrame?> ReadAsync(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            return await Task.Run(() => DirectFrames.Read(stream, new byte[DirectFrames.HeaderLength])).WaitAsync(Wait);
        }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return null;
        }
    }
}
