using Coordination.Silo.Configuration;
using Coordination.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Coordination.Tests;

/// <summary>
/// TLS material: loaded from PEM files, refused with a message naming the file and the problem, and who counts as a
/// member (chains to the cluster's authority, valid now) and as a silo (a member whose certificate serves servers).
/// </summary>
public sealed class ClusterTlsTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public void A_silos_certificate_makes_a_silo_and_a_clients_a_member_that_is_not_one()
    {
        var silo = ClusterTls.Load(_certificates.Options(_certificates.Silo), silo: true);
        var client = ClusterTls.Load(_certificates.Options(_certificates.Client), silo: false);

        Assert.True(silo.Certificate.HasPrivateKey);
        Assert.True(silo.IsSilo(silo.Certificate));
        Assert.True(silo.IsMember(client.Certificate));
        Assert.False(silo.IsSilo(client.Certificate));
        Assert.False(silo.IsMember(null));
    }

    [Fact]
    public void Another_authoritys_certificate_and_an_expired_one_are_not_members()
    {
        var silo = ClusterTls.Load(_certificates.Options(_certificates.Silo), silo: true);
        var stranger = ClusterTls.Load(
            new ClusterTlsOptions { CertificatePath = _certificates.Stranger.Certificate, KeyPath = _certificates.Stranger.Key, TrustedCaPath = _certificates.StrangerAuthorityPath },
            silo: true);
        using var expired = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(_certificates.Expired.Certificate));

        Assert.True(stranger.IsSilo(stranger.Certificate));
        Assert.False(silo.IsMember(stranger.Certificate));
        Assert.False(silo.IsSilo(stranger.Certificate));
        Assert.False(silo.IsMember(expired));
    }

    [Fact]
    public void Chains_are_built_offline_and_listed_intermediates_narrow_the_trust()
    {
        var c = _certificates;
        using var deep = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(c.Deep.Certificate));
        using var direct = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(c.Silo.Certificate));

        // The root alone: a certificate its intermediate issued does not chain (nothing is fetched to complete it).
        var rootOnly = ClusterTls.Load(c.Options(c.Silo), silo: true);
        Assert.False(rootOnly.IsMember(deep));
        Assert.True(rootOnly.IsMember(direct));

        // The root and the intermediate: only what the intermediate issued.
        var both = Path.Combine(c.Directory, "root-and-intermediate.pem");
        File.WriteAllText(both, File.ReadAllText(c.AuthorityPath) + "\n" + File.ReadAllText(c.IntermediatePath) + "\n");
        var narrowed = ClusterTls.Load(new ClusterTlsOptions { CertificatePath = c.Deep.Certificate, KeyPath = c.Deep.Key, TrustedCaPath = both }, silo: true);
        Assert.True(narrowed.IsSilo(deep));
        Assert.False(narrowed.IsMember(direct));
    }

    /// <summary>
    /// The replica transport's handshakes, over loopback, between silos whose certificates an intermediate issued and
    /// whose authority file lists it: taken again and again (a handshake disposes nothing the next one needs), and a
    /// silo's certificate the root issued directly is refused by the narrowed side.
    /// </summary>
    [Fact]
    public async Task Replica_handshakes_through_a_listed_intermediate_succeed_every_time_and_refuse_what_it_did_not_issue()
    {
        var c = _certificates;
        var both = Path.Combine(c.Directory, "root-and-intermediate.pem");
        File.WriteAllText(both, File.ReadAllText(c.AuthorityPath) + "\n" + File.ReadAllText(c.IntermediatePath) + "\n");
        var deep = ClusterTls.Load(new ClusterTlsOptions { CertificatePath = c.Deep.Certificate, KeyPath = c.Deep.Key, TrustedCaPath = both }, silo: true);
        var direct = ClusterTls.Load(c.Options(c.Silo), silo: true);

        for (var i = 0; i < 3; i++)
        {
            Assert.True(await HandshakeAsync(deep, deep), $"handshake {i + 1} between two silos of the intermediate failed");
        }

        Assert.True(deep.IsSilo(deep.Certificate), "the intermediate was disposed by a handshake");
        Assert.False(await HandshakeAsync(server: deep, client: direct), "a certificate the listed intermediate did not issue was taken");
    }

    [Fact]
    public void Material_that_cannot_serve_is_refused_naming_the_file_and_the_problem()
    {
        var c = _certificates;
        Assert.Contains("CertificatePath", Refused(new ClusterTlsOptions { TrustedCaPath = c.AuthorityPath }, silo: false));
        Assert.Contains("TrustedCaPath", Refused(new ClusterTlsOptions { CertificatePath = c.Silo.Certificate, KeyPath = c.Silo.Key }, silo: false));
        Assert.Contains("has no private key", Refused(new ClusterTlsOptions { CertificatePath = c.Silo.Certificate, TrustedCaPath = c.AuthorityPath }, silo: false));
        Assert.Contains("not for both server and client authentication", Refused(c.Options(c.Client), silo: true));
        Assert.Contains("does not chain to the authority", Refused(c.Options(c.Stranger), silo: true));
        Assert.Contains("does not chain to the authority", Refused(c.Options(c.Expired), silo: false));
        Assert.Contains("missing.pem", Refused(new ClusterTlsOptions { CertificatePath = Path.Combine(c.Directory, "missing.pem"), TrustedCaPath = c.AuthorityPath }, silo: false));
        Assert.Contains("holds no PEM certificate", Refused(new ClusterTlsOptions { CertificatePath = c.Silo.Certificate, KeyPath = c.Silo.Key, TrustedCaPath = c.Silo.Key }, silo: false));
    }

    [Fact]
    public void The_host_refuses_to_start_with_tls_settings_that_cannot_serve()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{SiloHostOptions.Section}:Tls:CertificatePath"] = _certificates.Client.Certificate,
            [$"{SiloHostOptions.Section}:Tls:KeyPath"] = _certificates.Client.Key,
            [$"{SiloHostOptions.Section}:Tls:TrustedCaPath"] = _certificates.AuthorityPath,
        }).Build();

        var error = Assert.Throws<OptionsValidationException>(() => HostConfiguration.Bind(configuration));
        Assert.Contains("Coordination:Host:Tls: The certificate in", error.Message, StringComparison.Ordinal);

        configuration[$"{SiloHostOptions.Section}:Tls:CertificatePath"] = _certificates.Silo.Certificate;
        configuration[$"{SiloHostOptions.Section}:Tls:KeyPath"] = _certificates.Silo.Key;
        Assert.NotNull(HostConfiguration.Bind(configuration).LoadTls());
        Assert.Null(new SiloHostOptions().LoadTls());
    }

    /// <summary>One replica-transport handshake over loopback; true when both ends completed it.</summary>
    private static async Task<bool> HandshakeAsync(ClusterTls server, ClusterTls client)
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        using var dialler = new System.Net.Sockets.TcpClient();
        var accepting = listener.AcceptTcpClientAsync();
        await dialler.ConnectAsync(System.Net.IPAddress.Loopback, ((System.Net.IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await accepting;
        await using var serverSide = new System.Net.Security.SslStream(accepted.GetStream());
        await using var clientSide = new System.Net.Security.SslStream(dialler.GetStream());
        var serving = serverSide.AuthenticateAsServerAsync(server.ReplicaServerOptions(), CancellationToken.None);
        var dialling = clientSide.AuthenticateAsClientAsync(client.ReplicaClientOptions(), CancellationToken.None);
        try
        {
            await Task.WhenAll(serving, dialling).WaitAsync(TimeSpan.FromSeconds(30));

            // TLS 1.3 refuses a client's certificate after the client has finished: a byte each way settles it.
            await clientSide.WriteAsync(new byte[] { 1 });
            await serverSide.WriteAsync(new byte[] { 2 });
            return await serverSide.ReadAsync(new byte[1]) == 1 && await clientSide.ReadAsync(new byte[1]) == 1;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
        {
            return false;
        }
    }

    private static string Refused(ClusterTlsOptions options, bool silo) => Assert.Throws<ClusterTlsException>(() => ClusterTls.Load(options, silo)).Message;
}
