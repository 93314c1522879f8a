using System.Security.Cryptography.X509Certificates;
using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary>
/// A local cluster started with <c>Coordination:Host:Tls</c> (its silos, gateways, replica ports and the launcher's
/// dashboard client on TLS): <c>coord</c> gets a lock through it with a client certificate of the cluster's authority,
/// finds it unreachable without one or with another authority's, and refuses TLS flags that cannot serve.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Coord_reaches_a_cluster_with_TLS_only_with_a_certificate_of_its_authority()
    {
        using var certificates = TestCertificates.Create();
        await using var cluster = await LocalClusterProcess.StartAsync(
            $"--Coordination:Host:Tls:CertificatePath={certificates.Silo.Certificate}",
            $"--Coordination:Host:Tls:KeyPath={certificates.Silo.Key}",
            $"--Coordination:Host:Tls:TrustedCaPath={certificates.AuthorityPath}");
        await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(90));
        string[] target = [.. cluster.GatewayPorts.SelectMany(p => new[] { "--gateway", $"127.0.0.1:{p}" }), "--cluster-id", cluster.ClusterId];
        string[] member = ["--tls-cert", certificates.Client.Certificate, "--tls-key", certificates.Client.Key, "--tls-ca", certificates.AuthorityPath];
        var name = $"cli/tls/{Guid.NewGuid():N}";

        // The silos replicate to each other over TLS before the first grant: a lock through the gateway's TLS.
        var held = await Coord.RunAsync([.. target, .. member, "lock", name, "--timeout", "60s", "--", "echo", "held over tls"], TimeSpan.FromSeconds(90));
        Assert.True(held.ExitCode == 0, $"a client of the cluster's authority should get the lock; {held}");
        Assert.Contains("held over tls", held.Stdout, StringComparison.Ordinal);

        // In the clear, or with a silo's certificate of another authority: no gateway takes the connection.
        var plain = await Coord.RunAsync([.. target, "--connect-timeout", "3s", "--json", "locks"], TimeSpan.FromSeconds(60));
        Assert.True(plain.ExitCode == 69, $"a client in the clear should find the cluster unreachable; {plain}");
        string[] stranger = ["--tls-cert", certificates.Stranger.Certificate, "--tls-key", certificates.Stranger.Key, "--tls-ca", certificates.StrangerAuthorityPath];
        var foreign = await Coord.RunAsync([.. target, .. stranger, "--connect-timeout", "3s", "--json", "locks"], TimeSpan.FromSeconds(60));
        Assert.True(foreign.ExitCode == 69, $"another authority's client should find the cluster unreachable; {foreign}");

        // The ports themselves, on raw TLS connections: a silo's port refuses a client's certificate (it may not pose as
        // a silo), a gateway refuses another authority's; a gateway keeps a member's open (what makes the refusals mean
        // something: the same probe, only the certificate differs).
        using var client = X509Certificate2.CreateFromPemFile(certificates.Client.Certificate, certificates.Client.Key);
        using var strange = X509Certificate2.CreateFromPemFile(certificates.Stranger.Certificate, certificates.Stranger.Key);
        var wait = TimeSpan.FromSeconds(5);
        Assert.True(await TlsProbe.RefusedAsync(cluster.SiloPortBase, client, wait), "a silo port took a client's certificate");
        Assert.True(await TlsProbe.RefusedAsync(cluster.GatewayPortBase, strange, wait), "a gateway took another authority's certificate");
        Assert.False(await TlsProbe.RefusedAsync(cluster.GatewayPortBase, client, wait), "a gateway refused a member's certificate");

        // Flags that cannot serve: bad input, before any connection.
        var noAuthority = await Coord.RunAsync([.. target, "--tls-cert", certificates.Client.Certificate, "--tls-key", certificates.Client.Key, "locks"]);
        Assert.True(noAuthority.ExitCode == 64, $"--tls-cert without --tls-ca is bad input; {noAuthority}");
        Assert.Contains("TrustedCaPath", noAuthority.Stderr, StringComparison.Ordinal);
    }
}
