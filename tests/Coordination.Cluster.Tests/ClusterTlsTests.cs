using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Coordination.Client;
using Coordination.Grains.Hosting;
using Coordination.Replication.Configuration;
using Coordination.Replication.Direct;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.TestingHost;

namespace Coordination.Cluster.Tests;

/// <summary>
/// Silos with <c>UseClusterTls</c>: a client showing a certificate of the cluster's authority is granted locks (on its
/// TLS lane too), and the silos' replica batches travel on TLS connections; the replica port refuses a connection in the clear, a
/// certificate of another authority, and a client's certificate (which may not pose as a silo), and answers a silo's.
/// </summary>
public sealed class ClusterTlsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_cluster_with_TLS_grants_locks_to_a_members_client_and_its_replica_port_takes_only_silos()
    {
        using var certificates = TestCertificates.Create();
        var siloTls = ClusterTls.Load(certificates.Options(certificates.Silo), silo: true);
        var clientTls = ClusterTls.Load(certificates.Options(certificates.Client), silo: false);
        var metadata = new InMemoryClusterMetadataStore();
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton<IClusterMetadataStore>(metadata);
            silo.AddCoordination(o => o.FailureDetectionTime = TimeSpan.FromSeconds(5));
            silo.UseClusterTls(siloTls);
        });
        builder.ConfigureClient(client =>
        {
            client.UseClusterTls(clientTls);
            client.Services.AddCoordinationClient(o => o.SessionTtl = TimeSpan.FromSeconds(15));
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();

        // Through the gateway's TLS: a lock granted and released, then granted again with a larger token.
        var coordination = cluster.Client.ServiceProvider.GetRequiredService<ICoordinationClient>();
        var name = $"tls/{Guid.NewGuid():N}";
        long first = 0;
        await Eventually.Async(
            async () =>
            {
                await using var held = await coordination.CreateLock(name).TryAcquireAsync(TimeSpan.FromSeconds(5));
                first = held?.FencingToken ?? 0;
                return held is not null;
            },
            TimeSpan.FromSeconds(60),
            "a lock granted through the TLS gateway once the silos have placed their replicas");

        // The lock's silo asks another silo's replica on a direct connection, which is TLS (its listener takes nothing else).
        var address = await cluster.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(cluster.Client.GetGrain<ILockGrain>(name));
        var host = cluster.Silos.Single(s => s.SiloAddress.Equals(address));
        var transport = host.ServiceProvider.GetRequiredService<OrleansReplicaTransport>();
        await Eventually.Async(
            async () =>
            {
                await using var again = await coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
                Assert.True(again.FencingToken > first, $"token {again.FencingToken} after {first}");
                return transport.DirectReplies > 0;
            },
            Wait,
            "the lock's silo to have replica batches answered on a direct TLS connection");

        // The client's lock calls go on its lane to its gateway silo, whose listener takes only TLS with a member's certificate.
        var lane = ((CoordinationClient)coordination).Lane ?? throw new InvalidOperationException("AddCoordinationClient made no lane");
        await Eventually.Async(
            async () =>
            {
                var before = lane.Direct;
                await using var again = await coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
                return lane.Direct > before;
            },
            Wait,
            "the client's lock calls to go on its TLS lane");

        var silo = cluster.Silos[0];
        var port = silo.ServiceProvider.GetRequiredService<DirectReplicaListener>().Port;
        Assert.True(port > 0, "silo 0 does not listen for direct replica batches");
        var serializer = silo.ServiceProvider.GetRequiredService<Serializer>();
        var self = silo.SiloAddress.ToReplicaId();

        // A silo's certificate of the cluster's authority: answered (what makes the refusals below mean something).
        Assert.Equal(7, (await AskAsync(port, self, serializer, ClusterTls.Load(certificates.Options(certificates.Silo), silo: true)))?.Id);

        // In the clear (the listener wants a TLS handshake), a client's certificate (client authentication only) and a
        // silo's of another authority: the connection ends unanswered.
        Assert.True(await RefusedAsync(port, self, serializer, tls: null), "a connection in the clear was answered");
        Assert.True(await RefusedAsync(port, self, serializer, clientTls), "a client's certificate was taken as a silo's");
        Assert.True(await RefusedAsync(port, self, serializer, StrangerTls(certificates)), "another authority's certificate was taken");
    }

    private static async Task<bool> RefusedAsync(int port, ReplicaId to, Serializer serializer, ClusterTls? tls)
    {
        try
        {
            return await AskAsync(port, to, serializer, tls) is null;
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or SocketException)
        {
            return true;
        }
    }

    /// <summary>A silo's certificate of another authority, loaded as that authority's cluster would.</summary>
    private static ClusterTls StrangerTls(TestCertificates certificates) =>
        ClusterTls.Load(new ClusterTlsOptions { CertificatePath = certificates.Stranger.Certificate, KeyPath = certificates.Stranger.Key, TrustedCaPath = certificates.StrangerAuthorityPath }, silo: true);

    /// <summary>
    /// Connects to a replica port (with TLS when <paramref name="tls"/> is given, trusting any server: the listener's
    /// refusal is what is tested), sends a hello and a batch no replica acts on, and returns the answer; null when the
    /// listener closed the connection.
    /// </summary>
    private static async Task<ReplicaFrame?> AskAsync(int port, ReplicaId to, Serializer serializer, ClusterTls? tls)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (tls is not null)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "coordination-replica",
                ClientCertificates = [tls.Certificate],
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }).WaitAsync(Wait);
            stream = ssl;
        }

        await using (stream)
        {
            var from = new ReplicaId(SiloAddress.New(IPAddress.Loopback, 1, 1).ToParsableString());
            ReplicaRequest[] batch = [new(0, 0, "t/tls-test", ReplicaOperation.Prepare, Ballot.Zero, null, Ballot.Zero)];
            await stream.WriteAsync(DirectFrames.Hello(from, to));
            await stream.WriteAsync(DirectFrames.Frame(7, FrameKind.Batch, serializer.SerializeToArray(batch)));
            return await Task.Run(() => DirectFrames.Read(stream, new byte[DirectFrames.HeaderLength])).WaitAsync(Wait);
        }
    }
}
