using Coordination.Replication.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Coordination.Grains.Hosting;

/// <summary>Mutual TLS on every port a silo listens on and every connection it makes (see <see cref="ClusterTls"/>).</summary>
public static class ClusterTlsSiloBuilderExtensions
{
    /// <summary>
    /// Encrypts the silo's Orleans connections (silo to silo, and clients' gateway connections) and the direct replica
    /// transport, showing <paramref name="tls"/>'s certificate. The silo port and the replica port take only silos'
    /// certificates of the cluster's authority (server authentication); the gateway port takes any member's.
    /// Securing Orleans with its own <c>UseTls</c> instead leaves the replica port in the clear: use this, or switch
    /// <see cref="ReplicationOptions.DirectTransport"/> off.
    /// </summary>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder builder, ClusterTls tls)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tls);
        builder.Configure<SiloConnectionOptions>(connections =>
        {
            connections.ConfigureSiloInboundConnection(c => c.UseServerTls(tls.Configure(new TlsOptions(), peerIsSilo: true)));
            connections.ConfigureGatewayInboundConnection(c => c.UseServerTls(tls.Configure(new TlsOptions(), peerIsSilo: false)));
            connections.ConfigureSiloOutboundConnection(c => c.UseClientTls(tls.Configure(new TlsOptions(), peerIsSilo: true)));
        });
        builder.Services.Configure<ReplicationOptions>(o => o.Tls = tls);
        return builder;
    }
}
