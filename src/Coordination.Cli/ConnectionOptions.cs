using System.CommandLine;
using System.Net;

namespace Coordination.Cli;

/// <summary>
/// Where the cluster is. No flags: the local cluster of <c>dotnet run --project src/Coordination.Silo</c> (gateways
/// found through its silos' health endpoints). <c>--gateway host:port</c> (repeatable): those gateways.
/// <c>--redis CONNSTR</c>: the gateways the cluster's Redis membership lists.
/// </summary>
internal sealed class ConnectionOptions
{
    public const string LocalClusterId = "coordination-local";
    public const string DefaultClusterId = "coordination";

    public Option<string[]> Gateways { get; } = new("--gateway")
    {
        Description = "A gateway as host:port (repeat for several). Default: the local cluster's.",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string?> Redis { get; } = new("--redis") { Description = "A Redis connection string: the cluster's membership (silo-config/redis.json).", Recursive = true };

    public Option<string?> ClusterId { get; } = new("--cluster-id")
    {
        Description = $"The cluster id. Default: {LocalClusterId} for the local cluster, {DefaultClusterId} with --gateway or --redis.",
        Recursive = true,
    };

    public Option<TimeSpan?> ConnectTimeout { get; } = new("--connect-timeout")
    {
        Description = "How long to try to reach the cluster. Default 10s.",
        Recursive = true,
        CustomParser = Durations.Parse,
    };

    public Option<bool> Json { get; } = new("--json") { Description = "Write JSON to stdout (one object, or one per line for streams).", Recursive = true };

    public Option<string?> TlsCertificate { get; } = new("--tls-cert")
    {
        Description = $"For a cluster with TLS: this client's certificate (PEM, or PKCS#12 .pfx/.p12; a password in ${TlsPasswordVariable}).",
        Recursive = true,
    };

    public Option<string?> TlsKey { get; } = new("--tls-key") { Description = "The PEM private key of --tls-cert, when not in its file.", Recursive = true };

    public Option<string?> TlsAuthority { get; } = new("--tls-ca") { Description = "The PEM certificate of the cluster's certificate authority.", Recursive = true };

    /// <summary>Where a PKCS#12 file's or an encrypted key's password comes from: never the command line, which other users can read.</summary>
    public const string TlsPasswordVariable = "COORD_TLS_PASSWORD";

    public IEnumerable<Option> All => [Gateways, Redis, ClusterId, ConnectTimeout, Json, TlsCertificate, TlsKey, TlsAuthority];

    public ClusterTarget Read(ParseResult result)
    {
        var gateways = result.GetValue(Gateways) ?? [];
        var redis = result.GetValue(Redis);
        if (gateways.Length > 0 && redis is not null)
        {
            throw CliException.BadInput("Give --gateway or --redis, not both.");
        }

        var endpoints = gateways.Select(ParseEndpoint).ToArray();
        var clusterId = result.GetValue(ClusterId) ?? (endpoints.Length == 0 && redis is null ? LocalClusterId : DefaultClusterId);
        return new ClusterTarget(endpoints, redis, clusterId, result.GetValue(ConnectTimeout) ?? TimeSpan.FromSeconds(10), ReadTls(result));
    }

    private ClusterTls? ReadTls(ParseResult result)
    {
        var options = new ClusterTlsOptions
        {
            CertificatePath = result.GetValue(TlsCertificate),
            KeyPath = result.GetValue(TlsKey),
            TrustedCaPath = result.GetValue(TlsAuthority),
            Password = Environment.GetEnvironmentVariable(TlsPasswordVariable),
        };
        try
        {
            return options.IsConfigured ? ClusterTls.Load(options, silo: false) : null;
        }
        catch (ClusterTlsException ex)
        {
            throw CliException.BadInput($"{ex.Message} (--tls-cert, --tls-key, --tls-ca)");
        }
    }

    private static EndPoint ParseEndpoint(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65535)
        {
            throw CliException.BadInput($"--gateway '{text}' is not host:port.");
        }

        var host = text[..colon].Trim('[', ']');
        return IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port) : new DnsEndPoint(host, port);
    }
}

/// <summary>The cluster a command talks to.</summary>
internal sealed record ClusterTarget(EndPoint[] Gateways, string? Redis, string ClusterId, TimeSpan ConnectTimeout, ClusterTls? Tls = null);
