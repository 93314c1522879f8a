using System.Diagnostics.Metrics;
using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;

namespace Coordination.Cluster.Tests;

/// <summary>What an application's operators see of the client: its meter and its health check, in a host as an application configures them.</summary>
public sealed partial class SessionClientTests
{
    [Fact]
    public async Task The_client_meter_measures_waits_by_outcome_and_grants_from_grant_to_release()
    {
        using var host = await StartClientHostAsync(CoordinationCluster.Ttl);
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var waits = new MetricCollector<double>(meters, CoordinationClient.MeterName, "coordination.client.acquire.duration");
        using var held = new MetricCollector<double>(meters, CoordinationClient.MeterName, "coordination.client.grant.duration");
        using var active = new MetricCollector<long>(meters, CoordinationClient.MeterName, "coordination.client.grants.active");
        using var keepalives = new MetricCollector<double>(meters, CoordinationClient.MeterName, "coordination.client.keepalive.duration");
        var client = host.Services.GetRequiredService<ICoordinationClient>();
        var name = NewLock();

        var handle = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        Assert.Null(await client.CreateLock(name).TryAcquireAsync());
        var permit = await client.CreateSemaphore(NewLock(), 2).AcquireAsync(TimeSpan.FromSeconds(10));
        active.RecordObservableInstruments();
        Assert.Equal(2, active.LastMeasurement?.Value);

        await handle.DisposeAsync();
        await permit.DisposeAsync();
        await handle.DisposeAsync();
        active.RecordObservableInstruments();
        Assert.Equal(0, active.LastMeasurement?.Value);
        Assert.Equal(
            [("lock", "granted"), ("lock", "not_acquired"), ("semaphore", "granted")],
            waits.GetMeasurementSnapshot().Select(m => (m.Tags["coordination.primitive"], m.Tags["coordination.outcome"])));
        Assert.Equal(["lock", "semaphore"], held.GetMeasurementSnapshot().Select(m => m.Tags["coordination.primitive"]));
        await Eventually.Async(() => keepalives.GetMeasurementSnapshot().Count > 0, TimeSpan.FromSeconds(10), "an acknowledged keepalive of the shared session measured");

        // A handle dropped without being disposed ends when the finalizer runs: no longer active, its hold measured.
        var dropped = NewLock();
        await AcquireAndDropAsync(client, dropped);
        await Eventually.Async(
            () =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                active.RecordObservableInstruments();
                return active.LastMeasurement?.Value == 0;
            },
            TimeSpan.FromSeconds(30),
            "the dropped handle's grant no longer active once finalized");
        Assert.Equal(3, held.GetMeasurementSnapshot().Count);

        // An acquire that fails before any attempt (the client closed) is measured too.
        await host.Services.GetRequiredService<CoordinationClient>().CloseAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await client.CreateLock(NewLock()).AcquireAsync(TimeSpan.FromSeconds(1)));
        Assert.Equal(("lock", "failed"), waits.GetMeasurementSnapshot().Select(m => (m.Tags["coordination.primitive"], m.Tags["coordination.outcome"])).Last());
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task AcquireAndDropAsync(ICoordinationClient client, string name) =>
        _ = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));

    /// <summary>
    /// Healthy with no session and with one; degraded while the shared session's keepalives go unanswered (late, then
    /// lost); failing when the gateway does not answer a ping; healthy again once an acquire opens another session.
    /// The session's TTL is 6 s here: the client counts a lease of 5.74 s from each acknowledged keepalive's send, "late"
    /// starts at 1.5 keepalive intervals (3 s) and lasts 2.74 s until the loss, which stays degraded for a TTL: windows
    /// wide enough for polls of a busy machine to see. Healthy again a TTL after the loss; a closed client is unhealthy.
    /// </summary>
    [Fact]
    public async Task The_health_check_degrades_while_the_shared_sessions_keepalives_go_unanswered_and_fails_when_a_ping_does()
    {
        var cluster = fixture.Cluster;
        using var host = await StartClientHostAsync(TimeSpan.FromSeconds(6));
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var client = host.Services.GetRequiredService<CoordinationClient>();
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        using var lost = new MetricCollector<long>(meters, CoordinationClient.MeterName, "coordination.client.sessions.lost");
        using var failures = new MetricCollector<long>(meters, CoordinationClient.MeterName, "coordination.client.keepalive.failures");

        var idle = await CheckAsync(health);
        Assert.True(idle.Status == HealthStatus.Healthy && idle.Description!.Contains("no shared session", StringComparison.Ordinal), $"{idle.Status}: {idle.Description}");
        Assert.True(idle.Data.ContainsKey("pingMilliseconds"));

        var handle = await client.CreateLock(NewLock()).AcquireAsync(TimeSpan.FromSeconds(10));
        var session = client.SharedSession!;
        var holding = await CheckAsync(health);
        Assert.Equal(HealthStatus.Healthy, holding.Status);
        Assert.Equal(session.Tag, holding.Data["session"]);
        Assert.Equal(1L, holding.Data["grantsActive"]);

        cluster.Dropper.DropAllFor = session.Id;
        cluster.Dropper.DropAll = nameof(ISessionGrain.KeepAlive);
        try
        {
            await Eventually.Async(async () => await CheckAsync(health) is { Status: HealthStatus.Degraded } late && late.Description!.Contains("late", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "degraded: the shared session's keepalives are late");
            await Eventually.Async(async () => await CheckAsync(health) is { Status: HealthStatus.Degraded } gone && gone.Description!.Contains("was lost", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "degraded: the shared session was lost");
        }
        finally
        {
            cluster.Dropper.DropAll = null;
            cluster.Dropper.DropAllFor = null;
        }

        // The health check reads the deadline itself; the session's deadline timer marks it lost (and counts it) when it fires.
        await Eventually.Async(() => lost.GetMeasurementSnapshot().Count > 0, TimeSpan.FromSeconds(10), "the lost session counted");
        Assert.Equal(["deadline"], lost.GetMeasurementSnapshot().Select(m => m.Tags["coordination.reason"]));
        Assert.True(failures.GetMeasurementSnapshot().Sum(m => m.Value) >= 1, "the unanswered keepalives were counted");

        cluster.Dropper.DropAll = nameof(IPingGrain.Ping);
        try
        {
            var down = await CheckAsync(health);
            Assert.True(down.Status == HealthStatus.Unhealthy && down.Description!.Contains("ping", StringComparison.Ordinal) && down.Exception is not null, $"{down.Status}: {down.Description}");
        }
        finally
        {
            cluster.Dropper.DropAll = null;
        }

        // A TTL after the loss, an idle client is healthy again, and still says what was lost.
        await Eventually.Async(async () => await CheckAsync(health) is { Status: HealthStatus.Healthy } healed && healed.Description!.Contains("was lost", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "healthy a TTL after the loss, the loss still told");
        await handle.DisposeAsync();
        await using (await client.CreateLock(NewLock()).AcquireAsync(TimeSpan.FromSeconds(10)))
        {
            var again = await CheckAsync(health);
            Assert.True(again.Status == HealthStatus.Healthy && !Equals(again.Data["session"], session.Tag), $"{again.Status}: {again.Description}");
        }

        await client.CloseAsync();
        var closed = await CheckAsync(health);
        Assert.True(closed.Status == HealthStatus.Unhealthy && closed.Description!.Contains("closed", StringComparison.Ordinal), $"{closed.Status}: {closed.Description}");
        await host.StopAsync();
    }

    private static async Task<HealthReportEntry> CheckAsync(HealthCheckService health) => (await health.CheckHealthAsync()).Entries["coordination"];

    /// <summary>A host as an application configures one: the client, its health check, the host's meter factory; calls through the test cluster's client.</summary>
    private async Task<IHost> StartClientHostAsync(TimeSpan ttl)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<IGrainFactory>(fixture.Cluster.Grains);
        builder.Services.AddCoordinationClient(o =>
        {
            o.SessionTtl = ttl;
            o.DeadlineMargin = TimeSpan.FromMilliseconds(200);
            o.MaxPark = TimeSpan.FromSeconds(2);
            o.RetryDelay = TimeSpan.FromMilliseconds(50);
        });
        builder.Services.AddHealthChecks().AddCoordination(timeout: TimeSpan.FromSeconds(2));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
