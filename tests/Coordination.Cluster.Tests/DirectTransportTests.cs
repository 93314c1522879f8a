using System.Net;
using System.Net.Sockets;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
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

    private async Task PairAsync(string name, TestSession session)
    {
        var id = Guid.NewGuid();
        var token = await Cluster.Grains.AcquireAsync(name, session.Id, id, TimeSpan.FromSeconds(30));
        Assert.Equal(ReleaseOutcome.Released, await Cluster.Grains.ReleaseAsync(name, session.Id, id, token));
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
