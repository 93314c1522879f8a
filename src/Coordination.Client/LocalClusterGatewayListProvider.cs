using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Orleans.Messaging;

namespace Coordination.Client;

/// <summary>
/// The local cluster's gateways that are up. Each silo's health endpoint is asked, briefly, for Orleans'
/// membership as that silo sees it: a gateway is live when its silo answers, calls itself active, and no
/// answering silo holds it dead. A hung silo (SIGSTOP, a long pause) stops answering and is dropped at the
/// next refresh, so the Orleans client closes its still-open connection and sends calls around it instead
/// of into it. With none answering, all are offered (the client then finds out by connecting).
/// </summary>
internal sealed class LocalClusterGatewayListProvider(IReadOnlyList<(int GatewayPort, int HealthPort)> silos) : IGatewayListProvider
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMilliseconds(500) };

    public TimeSpan MaxStaleness => TimeSpan.FromSeconds(2);

    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task<IList<Uri>> GetGateways()
    {
        var answers = await Task.WhenAll(silos.Select(async s => (s.GatewayPort, View: await ReadAsync(s.HealthPort))));
        var dead = answers.SelectMany(a => a.View?.Members.Where(m => m.Status == "Dead").Select(m => m.Member) ?? []).ToHashSet(StringComparer.Ordinal);
        var live = answers
            .Where(a => a.View is { } v && !dead.Contains(v.Self) && v.Members.Any(m => m.Member == v.Self && m.Status == "Active"))
            .Select(a => Gateway(a.GatewayPort))
            .ToList();
        return live.Count > 0 ? live : [.. silos.Select(s => Gateway(s.GatewayPort))];
    }

    private static Uri Gateway(int port) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 0).ToGatewayUri();

    private static async Task<OrleansMembershipView?> ReadAsync(int healthPort)
    {
        try
        {
            return await Http.GetFromJsonAsync<OrleansMembershipView>(new Uri($"http://127.0.0.1:{healthPort}/api/orleans-membership"), JsonOptions);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
