using Microsoft.Extensions.DependencyInjection;
namespace Coordination.Client;

/// <summary>Mutual TLS from an Orleans client to the cluster's gateways (see <see cref="ClusterTls"/>).</summary>
public static class ClusterTlsClientBuilderExtensions
{
    /// <summary>
    /// Encrypts the client's gateway connections and shows <paramref name="tls"/>'s certificate; a gateway must show a
    /// silo's certificate of the same authority, or the connection is refused.
    /// </summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder builder, ClusterTls tls)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tls);
        // Also for the client lane (AddCoordinationClient), which shows the same certificate to the same silos.
        builder.Services.AddSingleton(tls);
        return builder.UseTls(o => tls.Configure(o, peerIsSilo: true));
    }
}
