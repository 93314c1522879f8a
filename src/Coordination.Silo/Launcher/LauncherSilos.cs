using System.Text.Json;
using Coordination.Silo.SiloHost;

namespace Coordination.Silo.Launcher;

/// <summary>
/// The launcher's answers to the page's per-silo routes: each of its silo processes with its readiness and probe
/// view, and each one's chart metrics, read from the silos' own endpoints (with the host's token). A silo that does
/// not answer is shown down, not left out: the page shows a killed silo until the launcher has replaced it.
/// </summary>
internal static class LauncherSilos
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    public static void MapLauncherSilos(this IEndpointRouteBuilder app, LocalClusterLauncher launcher)
    {
        app.MapGet("/api/coordination/silos", async (IHttpClientFactory http, CancellationToken cancellationToken) =>
            Results.Json(new PageSilos(await Task.WhenAll(launcher.Silos.Select(async s =>
            {
                var (status, readiness) = await GetAsync(http, launcher, s.Index, "health/ready", cancellationToken);
                var (_, view) = await GetAsync(http, launcher, s.Index, "api/membership", cancellationToken);
                var state = status switch { null => PageSilo.Down, 200 => PageSilo.Ready, _ => PageSilo.NotReady };
                return new PageSilo($"silo{s.Index}", s.Pid, s.Restarts, state, readiness, view);
            })))));
        app.MapGet("/api/coordination/metrics", async (IHttpClientFactory http, CancellationToken cancellationToken) =>
        {
            var answers = await Task.WhenAll(launcher.Silos.Select(s => GetAsync(http, launcher, s.Index, "api/coordination/metrics", cancellationToken)));
            var silos = answers
                .Where(a => a.Status == 200 && a.Body is not null)
                .SelectMany(a => a.Body!.Value.Deserialize<PageMetrics>(JsonSerializerOptions.Web)?.Silos ?? []);
            return Results.Json(new PageMetrics([.. silos]));
        });
    }

    /// <summary>A silo endpoint's status and JSON body; a null status when the silo does not answer.</summary>
    private static async Task<(int? Status, JsonElement? Body)> GetAsync(IHttpClientFactory http, LocalClusterLauncher launcher, int index, string path, CancellationToken cancellationToken)
    {
        var host = launcher.Host;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"{host.HttpLocalUrl(host.HealthPort(index))}/{path}"));
            request.Headers.Authorization = HttpCredentials.Header(host);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Patience);
            using var response = await http.CreateClient().SendAsync(request, timeout.Token);
            return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token));
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (null, null);
        }
    }
}
