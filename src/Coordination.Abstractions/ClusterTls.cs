using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Coordination;

/// <summary>
/// Where a process's TLS material is: its own certificate (a PEM certificate with <see cref="KeyPath"/>, or a
/// PKCS#12 file with <see cref="Password"/>) and the PEM file of the cluster's certificate authority, which every
/// silo's and client's certificate must chain to. Bound from <c>Coordination:Host:Tls</c> on silos; the
/// <c>coord</c> command line takes <c>--tls-cert</c>, <c>--tls-key</c> and <c>--tls-ca</c>.
/// </summary>
public sealed class ClusterTlsOptions
{
    /// <summary>This process's certificate: a PEM file (with <see cref="KeyPath"/>, or the key in the same file) or a PKCS#12 (.pfx, .p12) file.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM file of the certificate's private key, when it is not in <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The password of a PKCS#12 file, or of an encrypted PEM key.</summary>
    public string? Password { get; set; }

    /// <summary>The PEM file of the cluster's certificate authority (its root, and any intermediates).</summary>
    public string? TrustedCaPath { get; set; }

    /// <summary>Whether any of the paths is given: TLS is meant to be on, and then the certificate and the authority are both needed.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(KeyPath) || !string.IsNullOrWhiteSpace(TrustedCaPath);
}

/// <summary>TLS material that cannot be used: a file missing or unreadable, a certificate without its key, or one its role cannot use.</summary>
public sealed class ClusterTlsException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Mutual TLS for a cluster, as etcd's peer and client certificates: every connection to a silo's silo, gateway or
/// replica port is encrypted, and both ends show a certificate of the cluster's own certificate authority. A
/// certificate's name is not checked (silos move between addresses): the authority is what makes a member, so give
/// the cluster an authority of its own. Silos' certificates serve both ends (server and client authentication);
/// give clients certificates for client authentication only, and no client can pose as a silo: the silo and
/// replica ports take only certificates usable for server authentication.
/// </summary>
public sealed class ClusterTls
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    /// <summary>TLS 1.2 and 1.3, as Orleans' own connections default to.</summary>
    private const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    private readonly X509Certificate2Collection _roots = [];
    private readonly X509Certificate2Collection _intermediates = [];

    /// <summary>This process's certificate with the intermediates it is shown with, made once (offline): not per handshake.</summary>
    private readonly SslStreamCertificateContext _context;

    private ClusterTls(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        foreach (var authority in authorities)
        {
            (authority.SubjectName.RawData.AsSpan().SequenceEqual(authority.IssuerName.RawData) ? _roots : _intermediates).Add(authority);
        }

        _context = SslStreamCertificateContext.Create(certificate, Copies(_intermediates), offline: true);
    }

    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>
    /// Loads the material <paramref name="options"/> names. <paramref name="silo"/>: the certificate must serve both
    /// ends of a connection (a silo's does); otherwise client authentication is enough.
    /// </summary>
    /// <exception cref="ClusterTlsException">A file is missing or unreadable, the certificate has no private key, its usages do not fit the role, or it does not chain to the authority.</exception>
    public static ClusterTls Load(ClusterTlsOptions options, bool silo)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.CertificatePath))
        {
            throw new ClusterTlsException("TLS needs CertificatePath: this process's certificate (PEM with KeyPath, or PKCS#12).");
        }

        if (string.IsNullOrWhiteSpace(options.TrustedCaPath))
        {
            throw new ClusterTlsException("TLS needs TrustedCaPath: the PEM file of the cluster's certificate authority.");
        }

        var certificate = LoadCertificate(options);
        if (!certificate.HasPrivateKey)
        {
            throw new ClusterTlsException($"The certificate in '{options.CertificatePath}' has no private key: give KeyPath, or a PKCS#12 file that holds it.");
        }

        if (!AllowsUsage(certificate, ClientAuthentication) || (silo && !AllowsUsage(certificate, ServerAuthentication)))
        {
            throw new ClusterTlsException($"The certificate in '{options.CertificatePath}' is not for {(silo ? "both server and client" : "client")} authentication (its extended key usage), which a {(silo ? "silo" : "client")} needs.");
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(options.TrustedCaPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ClusterTlsException($"Cannot read the certificate authority '{options.TrustedCaPath}': {ex.Message}", ex);
        }

        if (authorities.Count == 0)
        {
            throw new ClusterTlsException($"'{options.TrustedCaPath}' holds no PEM certificate.");
        }

        ClusterTls tls;
        try
        {
            tls = new ClusterTls(certificate, authorities);
        }
        catch (CryptographicException ex)
        {
            throw new ClusterTlsException($"The certificate in '{options.CertificatePath}' cannot serve TLS: {ex.Message}", ex);
        }

        if (!tls.IsMember(certificate))
        {
            throw new ClusterTlsException($"The certificate in '{options.CertificatePath}' ({certificate.Subject}) does not chain to the authority in '{options.TrustedCaPath}', or is not valid now.");
        }

        return tls;
    }

    /// <summary>Whether <paramref name="certificate"/> chains to the cluster's authority and is valid now: a silo or a client of this cluster.</summary>
    public bool IsMember(X509Certificate2? certificate)
    {
        if (certificate is null || _roots.Count == 0)
        {
            return false;
        }

        var policy = ChainPolicy();
        using var chain = new X509Chain { ChainPolicy = policy };
        try
        {
            // Intermediates listed narrow the trust to what they issued (a shared root with the cluster's own intermediate).
            return chain.Build(certificate)
                && (_intermediates.Count == 0 || chain.ChainElements.Any(e => _intermediates.Any(i => i.RawDataMemory.Span.SequenceEqual(e.Certificate.RawDataMemory.Span))));
        }
        finally
        {
            // The chain's certificates are the caller's to dispose (the chain frees only its own handle): every handshake
            // builds one, and native certificates left to the finalizer pile up unseen by the collector.
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                {
                    element.Certificate.Dispose();
                }
            }

            DisposeAll(policy.CustomTrustStore);
            DisposeAll(policy.ExtraStore);
        }
    }

    /// <summary>Whether <paramref name="certificate"/> may act as a silo: a member whose certificate allows server authentication.</summary>
    public bool IsSilo(X509Certificate2? certificate) => certificate is not null && AllowsUsage(certificate, ServerAuthentication) && IsMember(certificate);

    /// <summary>
    /// How a presented certificate's chain is built: to the cluster's authority only, offline. Never from the network: a
    /// certificate's authority-information URLs are the presenter's to choose, and a handshake must not make a silo fetch
    /// them (nor wait on them). Revocation is not checked (see the class).
    /// </summary>
    internal X509ChainPolicy ChainPolicy()
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            VerificationFlags = X509VerificationFlags.NoFlag,
            DisableCertificateDownloads = true,
        };
        // Copies: a handshake may dispose what its policy holds, and the authority is shared by every handshake.
        policy.CustomTrustStore.AddRange(Copies(_roots));
        policy.ExtraStore.AddRange(Copies(_intermediates));
        return policy;
    }

    /// <summary>Sets Orleans' TLS options for a connection whose other end must be a silo (<paramref name="peerIsSilo"/>) or any member.</summary>
    internal TlsOptions Configure(TlsOptions options, bool peerIsSilo)
    {
        options.LocalCertificate = Certificate;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // Our own chain to the cluster's authority decides; the platform's errors (an untrusted root, a name that is
        // not the address dialled) say nothing about it. A missing certificate never passes.
        options.RemoteCertificateValidation = (certificate, _, errors) => Accepts(certificate, errors, peerIsSilo);
        options.SslProtocols = Protocols;
        // Only the policy for the other end's chain: Orleans picks this process's certificate itself (its server side
        // through a selection callback, which a certificate context of ours would conflict with).
        options.OnAuthenticateAsServer = (_, server) => ((SslServerAuthenticationOptions)server.SslServerAuthenticationOptions).CertificateChainPolicy = ChainPolicy();
        options.OnAuthenticateAsClient = (_, client) => ((SslClientAuthenticationOptions)client.SslClientAuthenticationOptions).CertificateChainPolicy = ChainPolicy();
        return options;
    }

    /// <summary>Whether a connection's other end may be taken: it showed a certificate, of a silo when <paramref name="peerIsSilo"/>, else of any member.</summary>
    internal bool Accepts(X509Certificate? certificate, SslPolicyErrors errors, bool peerIsSilo) =>
        (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0
        && certificate is X509Certificate2 presented
        && (peerIsSilo ? IsSilo(presented) : IsMember(presented));

    /// <summary>The side that connects, of the replica transport (a silo) or the client lane (a client): shows this process's certificate, takes only a silo's.</summary>
    internal SslClientAuthenticationOptions ReplicaClientOptions() => new()
    {
        // Not checked against the certificate (see the class): a name for the handshake only.
        TargetHost = "coordination-replica",
        ClientCertificateContext = _context,
        EnabledSslProtocols = Protocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = ChainPolicy(),
        RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accepts(certificate, errors, peerIsSilo: true),
    };

    /// <summary>The replica transport's listening side: shows this silo's certificate, asks for the other end's and takes only a silo's.</summary>
    internal SslServerAuthenticationOptions ReplicaServerOptions() => ServerOptions(peerIsSilo: true);

    /// <summary>The client lane's listening side: shows this silo's certificate, asks for the other end's and takes any member's (a client's, as the gateway port does).</summary>
    internal SslServerAuthenticationOptions LaneServerOptions() => ServerOptions(peerIsSilo: false);

    private SslServerAuthenticationOptions ServerOptions(bool peerIsSilo) => new()
    {
        ServerCertificateContext = _context,
        ClientCertificateRequired = true,
        EnabledSslProtocols = Protocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = ChainPolicy(),
        RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accepts(certificate, errors, peerIsSilo),
    };

    /// <summary>Whether a certificate's extended key usages allow <paramref name="usage"/> (a certificate without the extension allows every usage).</summary>
    private static bool AllowsUsage(X509Certificate2 certificate, Oid usage)
    {
        var extension = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
        return extension is null || extension.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == usage.Value);
    }

    private static X509Certificate2Collection Copies(X509Certificate2Collection certificates) =>
        [.. certificates.Select(c => X509CertificateLoader.LoadCertificate(c.RawDataMemory.Span))];

    private static void DisposeAll(X509Certificate2Collection certificates)
    {
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }

    private static X509Certificate2 LoadCertificate(ClusterTlsOptions options)
    {
        var path = options.CertificatePath!;
        try
        {
            if (Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12")
            {
                return X509CertificateLoader.LoadPkcs12FromFile(path, options.Password);
            }

            var keyPath = string.IsNullOrWhiteSpace(options.KeyPath) ? null : options.KeyPath;
            var keyText = File.ReadAllText(keyPath ?? path);
            if (!keyText.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
            {
                // No key at all: the certificate alone, which Load refuses by name.
                return X509Certificate2.CreateFromPem(File.ReadAllText(path));
            }

            using var pem = keyText.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromEncryptedPemFile(path, options.Password ?? string.Empty, keyPath)
                : X509Certificate2.CreateFromPemFile(path, keyPath);

            // A key loaded from PEM is ephemeral, which some platforms' TLS (Windows') cannot serve with; one reloaded
            // from PKCS#12 serves everywhere. The exported bytes hold the key in the clear: wiped once read.
            var exported = pem.Export(X509ContentType.Pkcs12);
            try
            {
                return X509CertificateLoader.LoadPkcs12(exported, null);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(exported);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ClusterTlsException($"Cannot load the certificate '{path}'{(options.KeyPath is { Length: > 0 } k ? $" with the key '{k}'" : string.Empty)}: {ex.Message}", ex);
        }
    }
}
