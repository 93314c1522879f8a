using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using Coordination.Membership.Hosting;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Microsoft.AspNetCore.Connections;
using Orleans.Configuration;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// The fault suite's levers inside one silo, on only with <c>Coordination:Host:FaultInjection</c>: cut this
/// silo off from chosen peers (Orleans' silo-to-silo connections, replica and probe traffic), and skew or
/// jump its wall clock. Both sides of a cut are told, so every connection between them is someone's
/// outbound connection and gets aborted. Never on in production.
/// </summary>
internal sealed class NetworkFaults : IReplicaTrafficFilter, IProbeTrafficFilter
{
    private readonly ConcurrentDictionary<string, int> _ports = new();
    private readonly ConcurrentDictionary<ConnectionContext, int> _outbound = new();
    private ImmutableHashSet<int> _blocked = [];

    /// <summary>Silo ports this silo cannot reach and is not reached from.</summary>
    public IReadOnlySet<int> Blocked => _blocked;

    public void Block(IEnumerable<int> siloPorts)
    {
        _blocked = [.. siloPorts];
        foreach (var (connection, port) in _outbound)
        {
            if (_blocked.Contains(port))
            {
                connection.Abort(new ConnectionAbortedException($"Fault injection: silo port {port} is partitioned away."));
            }
        }
    }

    public bool Allows(ReplicaId from, ReplicaId to) => Allows(from.Value, to.Value);

    public bool Allows(string fromSilo, string toSilo) => !_blocked.Contains(PortOf(fromSilo)) && !_blocked.Contains(PortOf(toSilo));

    /// <summary>Connection middleware for this silo's outbound connections to other silos.</summary>
    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var port = (connection.RemoteEndPoint as IPEndPoint)?.Port ?? -1;
        if (_blocked.Contains(port))
        {
            connection.Abort(new ConnectionAbortedException($"Fault injection: silo port {port} is partitioned away."));
            return;
        }

        _outbound[connection] = port;
        try
        {
            await next(connection);
        }
        finally
        {
            _outbound.TryRemove(connection, out _);
        }
    };

    private int PortOf(string silo) => _ports.GetOrAdd(silo, s => SiloAddress.FromParsableString(s).Endpoint.Port);
}

/// <summary>
/// The silo's <see cref="TimeProvider"/> under fault injection: the wall clock (<see cref="GetUtcNow"/>) can be
/// skewed or jumped by any amount, as NTP steps or a bad clock do; the monotonic clock and timers are the
/// system's. The invariants must not care: no wall-clock time decides a lease.
/// </summary>
internal sealed class SkewedTimeProvider : TimeProvider
{
    private long _offsetTicks;

    public TimeSpan Offset
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
        set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
    }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;

    public override long GetTimestamp() => System.GetTimestamp();

    public override long TimestampFrequency => System.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => System.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => System.CreateTimer(callback, state, dueTime, period);
}

/// <summary>
/// Fault injection's slow stop: a graceful stop that waits <see cref="Delay"/> before Orleans leaves the cluster, as a
/// silo with much to drain does. Registered after Orleans, so it is stopped before it.
/// </summary>
internal sealed partial class SlowStop(ILogger<SlowStop> logger) : IHostedService
{
    private long _delayTicks;

    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set => Interlocked.Exchange(ref _delayTicks, value.Ticks);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Delay > TimeSpan.Zero)
        {
            LogSlowStop(logger, Delay.TotalSeconds);
            await Task.Delay(Delay, cancellationToken);
        }
    }

    [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "Fault injection: this graceful stop waits {Seconds} s before the silo leaves")]
    private static partial void LogSlowStop(ILogger logger, double seconds);
}

internal static class FaultInjection
{
    /// <summary>Registers the levers (before Orleans and the coordination services, so they pick up this time provider and the traffic filters).</summary>
    public static void AddFaultInjection(this IServiceCollection services)
    {
        services.AddSingleton<NetworkFaults>();
        services.AddSingleton<IReplicaTrafficFilter>(sp => sp.GetRequiredService<NetworkFaults>());
        services.AddSingleton<IProbeTrafficFilter>(sp => sp.GetRequiredService<NetworkFaults>());
        services.AddSingleton<SkewedTimeProvider>();
        services.AddSingleton<TimeProvider>(sp => sp.GetRequiredService<SkewedTimeProvider>());
        services.AddSingleton<SlowStop>();
    }

    /// <summary>After Orleans is added: hosted services stop in reverse order, so the slow stop runs before Orleans leaves.</summary>
    public static void AddSlowStop(this IServiceCollection services) => services.AddHostedService(sp => sp.GetRequiredService<SlowStop>());

    public static void ConfigureFaultInjection(this ISiloBuilder silo) =>
        silo.Configure<SiloConnectionOptions>(o => o.ConfigureSiloOutboundConnection(b => b.Use(b.ApplicationServices.GetRequiredService<NetworkFaults>().Middleware)));

    /// <summary>
    /// <c>POST /api/faults/partition {"blocked":[silo indexes]}</c> (an empty list heals), <c>POST /api/faults/clock
    /// {"offsetMs":n}</c>, <c>POST /api/faults/stop {"delayMs":n}</c> (the next graceful stop waits that long first),
    /// <c>GET /api/faults</c>.
    /// </summary>
    public static void MapFaults(this WebApplication app, Configuration.SiloHostOptions host)
    {
        app.MapGet("/api/faults", (NetworkFaults network, SkewedTimeProvider clock, SlowStop stop) => Results.Json(new
        {
            blocked = network.Blocked.Select(p => p - host.SiloPortBase).Order(),
            clockOffsetMs = clock.Offset.TotalMilliseconds,
            stopDelayMs = stop.Delay.TotalMilliseconds,
        }));
        app.MapPost("/api/faults/partition", (PartitionRequest request, NetworkFaults network) =>
        {
            if (request.Blocked.Any(i => i < 0 || i >= host.Silos))
            {
                return Results.BadRequest(new { error = $"blocked silo indexes must be 0 to {host.Silos - 1}" });
            }

            network.Block(request.Blocked.Select(host.SiloPort));
            return Results.NoContent();
        });
        app.MapPost("/api/faults/clock", (ClockRequest request, SkewedTimeProvider clock) =>
        {
            clock.Offset = TimeSpan.FromMilliseconds(request.OffsetMs);
            return Results.NoContent();
        });
        app.MapPost("/api/faults/stop", (StopRequest request, SlowStop stop) =>
        {
            if (request.DelayMs is < 0 or > 60_000)
            {
                return Results.BadRequest(new { error = "delayMs must be 0 to 60000" });
            }

            stop.Delay = TimeSpan.FromMilliseconds(request.DelayMs);
            return Results.NoContent();
        });
    }

    internal sealed record PartitionRequest(int[] Blocked);

    internal sealed record ClockRequest(double OffsetMs);

    internal sealed record StopRequest(double DelayMs);
}
