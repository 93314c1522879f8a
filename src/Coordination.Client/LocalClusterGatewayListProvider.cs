using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Messaging;

namespace Coordination.Client;

/// <summary>
/// The local cluster's gateways that are up. Each silo's health endpoint is asked, briefly, for Orleans'
/// membership as that silo sees it: a gateway is listed when its silo answers and calls itself active, and
/// dropped at once when an answering silo holds it dead or it no longer calls itself active. A silo that does
/// not answer stays listed until it has missed <see cref="MissesToDrop"/> polls in a row: a hung silo (SIGSTOP,
/// a long pause) is dropped within a few seconds (sooner when the probes declare it dead), so the Orleans client
/// closes its still-open connection and sends calls around it; one slow answer on a busy machine does not close
/// a working connection (and lose the replies on their way through it). With none listed, all are offered (the
/// client then finds out by connecting).
/// </summary>
internal sealed partial class LocalClusterGatewayListProvider : IGatewayListProvider
{
    /// <summary>Polls in a row a silo may leave unanswered before its gateway is dropped.</summary>
    public const int MissesToDrop = 2;

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMilliseconds(500) };
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private readonly IReadOnlyList<(int GatewayPort, int HealthPort)> _silos;
    private readonly Func<int, Task<OrleansMembershipView?>> _read;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Gateway[] _state;

    public LocalClusterGatewayListProvider(IReadOnlyList<(int GatewayPort, int HealthPort)> silos, ILogger<LocalClusterGatewayListProvider>? logger = null)
        : this(silos, ReadAsync, logger)
    {
    }

    /// <param name="read">Asks a health port for its silo's view; null when it does not answer (tests stand in for the silos).</param>
    internal LocalClusterGatewayListProvider(IReadOnlyList<(int GatewayPort, int HealthPort)> silos, Func<int, Task<OrleansMembershipView?>> read, ILogger? logger = null)
    {
        _silos = silos;
        _read = read;
        _logger = logger ?? NullLogger.Instance;
        _state = [.. silos.Select(_ => new Gateway())];
    }

    public TimeSpan MaxStaleness => TimeSpan.FromSeconds(2);

    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task<IList<Uri>> GetGateways()
    {
        var views = await Task.WhenAll(_silos.Select(s => _read(s.HealthPort)));
        var dead = views.SelectMany(v => v?.Members.Where(m => m.Status == "Dead").Select(m => m.Member) ?? []).ToHashSet(StringComparer.Ordinal);
        var live = new List<Uri>();
        lock (_gate)
        {
            for (var i = 0; i < _silos.Count; i++)
            {
                var listed = _state[i].Judge(views[i], dead, out var reason);
                if (listed != _state[i].Listed)
                {
                    LogChanged(_logger, _silos[i].GatewayPort, listed ? "listed" : "dropped", reason);
                    _state[i].Listed = listed;
                }

                if (listed)
                {
                    live.Add(GatewayUri(_silos[i].GatewayPort));
                }
            }
        }

        return live.Count > 0 ? live : [.. _silos.Select(s => GatewayUri(s.GatewayPort))];
    }

    private static Uri GatewayUri(int port) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 0).ToGatewayUri();

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

    [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "Gateway 127.0.0.1:{Port} {Change}: {Reason}")]
    private static partial void LogChanged(ILogger logger, int port, string change, string reason);

    /// <summary>What the provider remembers of one silo between polls.</summary>
    private sealed class Gateway
    {
        private int _misses;
        private string? _self;

        public bool Listed { get; set; }

        public bool Judge(OrleansMembershipView? view, HashSet<string> dead, out string reason)
        {
            if (view is null)
            {
                _misses++;
                var heldDead = _self is not null && dead.Contains(_self);
                reason = heldDead ? "its silo is dead in another silo's view"
                    : _misses >= MissesToDrop ? $"no answer at {_misses} polls in a row"
                    : "no answer (kept until it misses another poll)";
                return Listed && _misses < MissesToDrop && !heldDead;
            }

            _misses = 0;
            _self = view.Self;
            if (dead.Contains(view.Self))
            {
                reason = "its silo is dead in another silo's view";
                return false;
            }

            var active = view.Members.Any(m => m.Member == view.Self && m.Status == "Active");
            reason = active ? "its silo answers and is active" : "its silo is not active";
            return active;
        }
    }
}
