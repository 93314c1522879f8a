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

    public IEnumerable<Option> All => [Gateways, Redis, ClusterId, ConnectTimeout, Json];

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
        return new ClusterTarget(endpoints, redis, clusterId, result.GetValue(ConnectTimeout) ?? TimeSpan.FromSeconds(10));
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
internal sealed record ClusterTarget(EndPoint[] Gateways, string? Redis, string ClusterId, TimeSpan ConnectTimeout);
