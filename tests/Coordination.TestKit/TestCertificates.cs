using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Coordination.TestKit;

/// <summary>
/// A throwaway certificate authority and certificates of it, written as PEM files to a directory of their own: a
/// silo's (server and client authentication), a client's (client authentication only), and a silo's of another
/// authority (which the cluster must refuse). Made with .NET's own certificate requests, no tools needed.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private TestCertificates(string directory) => Directory = directory;

    /// <summary>Where the files are; deleted with this.</summary>
    public string Directory { get; }

    /// <summary>The cluster's authority (PEM).</summary>
    public string AuthorityPath => Path.Combine(Directory, "ca.pem");

    public TlsFiles Silo => Files("silo");

    public TlsFiles Client => Files("client");

    /// <summary>A silo's certificate of another authority.</summary>
    public TlsFiles Stranger => Files("stranger");

    /// <summary>An intermediate authority the cluster's root issued (PEM), and a silo's certificate it issued.</summary>
    public string IntermediatePath => Path.Combine(Directory, "intermediate.pem");

    public TlsFiles Deep => Files("deep");

    /// <summary>The other authority (PEM).</summary>
    public string StrangerAuthorityPath => Path.Combine(Directory, "stranger-ca.pem");

    /// <summary>A client's certificate that has expired (of the cluster's authority).</summary>
    public TlsFiles Expired => Files("expired");

    public static TestCertificates Create()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("coord-tls-").FullName;
        using var authority = Authority("Coordination test CA");
        using var other = Authority("Some other CA");
        File.WriteAllText(Path.Combine(directory, "ca.pem"), authority.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "stranger-ca.pem"), other.ExportCertificatePem());
        var now = DateTimeOffset.UtcNow;
        Write(directory, "silo", authority, [ServerAuthentication, ClientAuthentication], now.AddDays(-1), now.AddDays(30));
        Write(directory, "client", authority, [ClientAuthentication], now.AddDays(-1), now.AddDays(30));
        Write(directory, "stranger", other, [ServerAuthentication, ClientAuthentication], now.AddDays(-1), now.AddDays(30));
        Write(directory, "expired", authority, [ClientAuthentication], now.AddDays(-10), now.AddDays(-1));
        using var intermediate = Intermediate(authority, "Coordination test intermediate");
        File.WriteAllText(Path.Combine(directory, "intermediate.pem"), intermediate.ExportCertificatePem());
        Write(directory, "deep", intermediate, [ServerAuthentication, ClientAuthentication], now.AddDays(-1), now.AddDays(30));
        return new TestCertificates(directory);
    }

    /// <summary>The options naming <paramref name="files"/> and this authority.</summary>
    public ClusterTlsOptions Options(TlsFiles files) => new() { CertificatePath = files.Certificate, KeyPath = files.Key, TrustedCaPath = AuthorityPath };

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A process still reading them: the temp directory keeps them.
        }
    }

    private TlsFiles Files(string name) => new(Path.Combine(Directory, name + ".pem"), Path.Combine(Directory, name + ".key"));

    private static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static X509Certificate2 Intermediate(X509Certificate2 authority, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddDays(-7), DateTimeOffset.UtcNow.AddDays(180), RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    private static void Write(string directory, string name, X509Certificate2 authority, Oid[] usages, DateTimeOffset from, DateTimeOffset to)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=coordination {name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([.. usages], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.Create(authority, from, to, RandomNumberGenerator.GetBytes(16));
        File.WriteAllText(Path.Combine(directory, name + ".pem"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, name + ".key"), key.ExportPkcs8PrivateKeyPem());
    }
}

/// <summary>A certificate and its key, as PEM files.</summary>
public sealed record TlsFiles(string Certificate, string Key);
