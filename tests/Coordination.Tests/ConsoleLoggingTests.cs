using System.Net.Sockets;
using Coordination.Silo.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>The host's console log: our categories at information, others at warning, and the entries that only look alarming left out.</summary>
public sealed class ConsoleLoggingTests
{
    private static readonly TimeSpan Age = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("Coordination.Replication.Hosting.ReplicationLifecycle", LogLevel.Information, true)]
    [InlineData("Coordination.Silo.Launcher.LocalClusterLauncher", LogLevel.Information, true)]
    [InlineData("Coordination.Membership.Hosting.ProbeHost", LogLevel.Debug, false)]
    [InlineData("Polly", LogLevel.Information, false)]
    [InlineData("Polly", LogLevel.Warning, true)]
    [InlineData("Orleans.Runtime.Silo", LogLevel.Information, false)]
    [InlineData("Orleans.Runtime.Silo", LogLevel.Warning, true)]
    [InlineData("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Information, false)]
    [InlineData("Coordination.Replication.Hosting.ReplicaGrainService", LogLevel.Information, false)] // Orleans' grain-service chatter under our name
    [InlineData("Coordination.Replication.Hosting.ReplicaGrainService", LogLevel.Warning, true)]
    [InlineData("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Error, false)] // "not ready yet" is what /health/ready answers
    public void Our_categories_log_at_information_and_the_others_at_warning(string category, LogLevel level, bool enabled)
    {
        using var services = Loggers([]);
        Assert.Equal(enabled, services.GetRequiredService<ILoggerFactory>().CreateLogger(category).IsEnabled(level));
    }

    [Fact]
    public void The_configuration_overrides_the_default_levels()
    {
        using var services = Loggers(new() { ["Logging:LogLevel:Polly"] = "Information", ["Logging:LogLevel:Coordination"] = "Debug" });
        var loggers = services.GetRequiredService<ILoggerFactory>();
        Assert.True(loggers.CreateLogger("Polly").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("Coordination.Membership.Hosting.ProbeHost").IsEnabled(LogLevel.Debug));
        Assert.False(loggers.CreateLogger("Orleans.Runtime.Silo").IsEnabled(LogLevel.Information));
    }

    public static TheoryData<string, LogLevel, int, string?, TimeSpan?, bool, string> Verdicts => new()
    {
        // Orleans' watchdog: a stall longer than the process has lived is its start-up race; others are real.
        { "Orleans.Runtime.Watchdog", LogLevel.Warning, 0, null, TimeSpan.FromMinutes(28), false, nameof(ConsoleVerdict.Drop) },
        { "Orleans.Runtime.Watchdog", LogLevel.Warning, 0, null, TimeSpan.FromSeconds(5), false, nameof(ConsoleVerdict.Write) },
        { "Orleans.Runtime.Watchdog", LogLevel.Warning, 0, null, null, false, nameof(ConsoleVerdict.Write) },
        { "Orleans.Runtime.Other", LogLevel.Warning, 0, null, TimeSpan.FromMinutes(28), false, nameof(ConsoleVerdict.Write) },

        // Connection errors: expected while stopping, written as they are otherwise.
        { "Orleans.Runtime.Messaging.Connection", LogLevel.Warning, 0, null, null, true, nameof(ConsoleVerdict.Drop) },
        { "Orleans.Runtime.Messaging.Connection", LogLevel.Error, 0, null, null, true, nameof(ConsoleVerdict.WriteWithoutStackTrace) },
        { "Orleans.Networking.Shared.SocketConnection", LogLevel.Warning, 0, null, null, true, nameof(ConsoleVerdict.Drop) },
        { "Orleans.Messaging.GatewayManager", LogLevel.Warning, 0, null, null, true, nameof(ConsoleVerdict.Drop) },
        { "Orleans.Runtime.Messaging.Connection", LogLevel.Critical, 0, null, null, true, nameof(ConsoleVerdict.Write) },
        { "Orleans.Runtime.Messaging.Connection", LogLevel.Warning, 0, null, null, false, nameof(ConsoleVerdict.Write) },
        { "Orleans.Runtime.Messaging.Connection", LogLevel.Error, 0, null, null, false, nameof(ConsoleVerdict.Write) },
        { "Coordination.Replication.Hosting.ReplicationLifecycle", LogLevel.Warning, 0, null, null, true, nameof(ConsoleVerdict.Write) },

        // Orleans' advice to run server GC: the silo host runs workstation GC on purpose. Its other warnings stay, the one
        // about a verbose log level under the same event id too.
        { "Orleans.Runtime.Silo", LogLevel.Warning, 100405, "Note: Silo not running with ServerGC turned on - recommend checking app config", null, false, nameof(ConsoleVerdict.Drop) },
        { "Orleans.Runtime.Silo", LogLevel.Warning, 100405, "Note: ServerGC only kicks in on multi-core systems (settings enabling ServerGC have no effect on single-core machines).", null, false, nameof(ConsoleVerdict.Drop) },
        { "Orleans.Runtime.Silo", LogLevel.Warning, 100405, "A verbose logging level ({HighestLogLevel}) is configured. This will impact performance.", null, false, nameof(ConsoleVerdict.Write) },
        { "Orleans.Runtime.Silo", LogLevel.Warning, 100406, "Note: ServerGC only kicks in on multi-core systems", null, false, nameof(ConsoleVerdict.Write) },
        { "Orleans.Runtime.Other", LogLevel.Warning, 100405, "Note: ServerGC only kicks in on multi-core systems", null, false, nameof(ConsoleVerdict.Write) },
    };

    [Theory]
    [MemberData(nameof(Verdicts))]
    public void Entries_that_only_look_alarming_are_left_out(string category, LogLevel level, int eventId, string? format, TimeSpan? stall, bool stopping, string verdict)
    {
        List<KeyValuePair<string, object?>> state = stall is { } s
            ? [new("TimeSinceLastTick", s), new("{OriginalFormat}", "Participant check thread has not completed for {TimeSinceLastTick}")]
            : [new("{OriginalFormat}", format ?? "something happened")];
        Assert.Equal(Enum.Parse<ConsoleVerdict>(verdict), QuietConsoleLoggerProvider.Judge(category, level, new EventId(eventId), state, exception: null, stopping, dead: false, Age));
    }

    [Theory]
    [InlineData("Orleans.Runtime.AsyncTimer.SiloHealthMonitor", LogLevel.Warning, nameof(ConsoleVerdict.Drop))] // "Timer should have fired at ..."
    [InlineData("Orleans.Runtime.MembershipService.MembershipTableManager", LogLevel.Error, nameof(ConsoleVerdict.Drop))] // "I have been told I am dead"
    [InlineData("Orleans.Runtime.Messaging.Connection", LogLevel.Error, nameof(ConsoleVerdict.Drop))]
    [InlineData("Orleans.Runtime.Silo", LogLevel.Critical, nameof(ConsoleVerdict.Write))]
    [InlineData("Coordination.Membership.Hosting.ProbeHost", LogLevel.Warning, nameof(ConsoleVerdict.Write))] // ours: how late the probe timer ran
    [InlineData("Coordination.Silo.SiloHost.SiloDeath", LogLevel.Critical, nameof(ConsoleVerdict.Write))]
    [InlineData("Microsoft.Hosting.Lifetime", LogLevel.Warning, nameof(ConsoleVerdict.Write))]
    public void Once_the_silo_is_declared_dead_only_our_entries_and_critical_ones_are_written(string category, LogLevel level, string verdict)
    {
        List<KeyValuePair<string, object?>> state = [new("{OriginalFormat}", "something happened")];
        Assert.Equal(Enum.Parse<ConsoleVerdict>(verdict), QuietConsoleLoggerProvider.Judge(category, level, new EventId(0), state, exception: null, stopping: false, dead: true, Age));
        Assert.Equal(ConsoleVerdict.Write, QuietConsoleLoggerProvider.Judge(category, level, new EventId(0), state, exception: null, stopping: false, dead: false, Age));
    }

    [Theory]
    [InlineData("Coordination.Membership.Hosting.ProbeHost", 5005, false)] // our probes: "declared this silo dead"; Orleans may take 10 s to act on it
    [InlineData("Coordination.Membership.Hosting.ProbeHost", 5004, false)] // they declared another silo dead
    [InlineData("Orleans.Runtime.MembershipService.MembershipTableManager", 100617, true)] // "I should be Dead according to the membership table"
    [InlineData("Orleans.Runtime.MembershipService.MembershipTableManager", 100627, true)] // "I have been told I am dead"
    [InlineData("Orleans.Runtime.MembershipService.MembershipTableManager", 100602, false)] // a silo restarted on the same host
    [InlineData("Orleans.Runtime.Silo", 100627, false)]
    public void The_silos_own_death_is_told_by_orleans_reading_the_table(string category, int eventId, bool death) =>
        Assert.Equal(death, QuietConsoleLoggerProvider.TellsOfOwnDeath(category, new EventId(eventId)));

    [Fact]
    public void After_the_entry_that_tells_of_the_death_orleans_warnings_are_left_out()
    {
        var shutdown = new ShutdownSignal();
        using var console = Console(out var written, shutdown);
        var catalog = console.CreateLogger("Orleans.Runtime.Catalog");
        catalog.LogWarning("Activation {N} failed", 1);
        console.CreateLogger("Coordination.Membership.Hosting.ProbeHost").Log(LogLevel.Error, new EventId(5005), "The probe group declared this silo dead");
        catalog.LogWarning("Activation {N} failed", 2);
        Assert.False(shutdown.Dead, "our probes' word alone: Orleans' entries still explain what happens until it acts");
        console.CreateLogger("Orleans.Runtime.MembershipService.MembershipTableManager").Log(LogLevel.Error, new EventId(100627), "I have been told I am dead");
        catalog.LogWarning("Activation {N} failed", 3);
        catalog.LogCritical("Activation {N} failed", 4);
        console.CreateLogger("Coordination.Membership.Hosting.ProbeHost").LogWarning("Probe timer ran {Late} late", "5 s");

        Assert.True(shutdown.Dead);
        Assert.Equal(
            ["Activation 1 failed", "The probe group declared this silo dead", "Activation 2 failed", "Activation 4 failed", "Probe timer ran 5 s late"],
            written.GetSnapshot().Select(r => r.Message));
    }

    [Fact]
    public void Orleans_warnings_that_repeat_for_one_stall_are_written_once_per_interval_each_with_the_count_left_out()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var console = Console(out var written, time: time);
        var watchdog = console.CreateLogger("Orleans.Runtime.Watchdog");
        watchdog.Log(LogLevel.Warning, new EventId(100150), ".NET Runtime Platform stalled for 6.6 s");
        console.CreateLogger("Orleans.Runtime.AsyncTimer.SiloHealthMonitor").LogWarning("Timer should have fired {Late} s late", 4);
        console.CreateLogger("Orleans.Runtime.AsyncTimer.IncomingRequestMonitor").LogWarning("Timer should have fired {Late} s late", 5);
        watchdog.Log(LogLevel.Warning, new EventId(100150), ".NET Runtime Platform stalled for 6.5 s");
        watchdog.Log(LogLevel.Warning, new EventId(102603), "1 of 3 components reported issues");
        console.CreateLogger("Orleans.Runtime.MembershipService.LocalSiloHealthMonitor").LogWarning("Local health is degraded");
        time.Advance(QuietConsoleLoggerProvider.RepetitiveInterval - TimeSpan.FromSeconds(1));
        console.CreateLogger("Orleans.Runtime.AsyncTimer.SiloHealthMonitor").LogWarning("Timer should have fired {Late} s late", 1);
        time.Advance(TimeSpan.FromSeconds(1));
        console.CreateLogger("Orleans.Runtime.AsyncTimer.SiloHealthMonitor").LogWarning("Timer should have fired {Late} s late", 2);

        Assert.Equal(
            [
                ".NET Runtime Platform stalled for 6.6 s", "Timer should have fired 4 s late", "1 of 3 components reported issues", "Local health is degraded",
                "Timer should have fired 2 s late (2 more like it left out since the last one written; at most one per 30 s)",
            ],
            written.GetSnapshot().Select(r => r.Message));
    }

    [Theory]
    [InlineData("Orleans.Runtime.AsyncTimer.SiloHealthMonitor", LogLevel.Warning, 0, nameof(Repetitive.LateTimer))]
    [InlineData("Orleans.Runtime.Watchdog", LogLevel.Warning, 100150, nameof(Repetitive.Stall))]
    [InlineData("Orleans.Connections.Security.TlsServerConnectionMiddleware", LogLevel.Warning, 0, nameof(Repetitive.Handshake))]
    [InlineData("Orleans.Connections.Security.TlsClientConnectionMiddleware", LogLevel.Warning, 0, nameof(Repetitive.OutboundHandshake))]
    [InlineData("Orleans.Runtime.Watchdog", LogLevel.Warning, 102603, nameof(Repetitive.No))] // a component's complaint
    [InlineData("Orleans.Runtime.Watchdog", LogLevel.Error, 100150, nameof(Repetitive.No))]
    [InlineData("Orleans.Runtime.MembershipService.LocalSiloHealthMonitor", LogLevel.Warning, 0, nameof(Repetitive.No))] // Orleans limits it itself
    [InlineData("Coordination.Membership.Hosting.ProbeHost", LogLevel.Warning, 5007, nameof(Repetitive.No))] // ours limits itself
    public void Repeating_warnings_are_orleans_late_timers_and_the_watchdogs_stall_reports(string category, LogLevel level, int eventId, string kind) =>
        Assert.Equal(Enum.Parse<Repetitive>(kind), QuietConsoleLoggerProvider.Repetitiveness(category, level, new EventId(eventId)));

    [Fact]
    public void A_start_cancelled_by_a_stop_is_told_in_short_lines()
    {
        var shutdown = new ShutdownSignal();
        using var console = Console(out var written, shutdown);
        var host = console.CreateLogger("Microsoft.Extensions.Hosting.Internal.Host");
        var directory = console.CreateLogger("Orleans.Runtime.GrainDirectory.LocalGrainDirectory");
        var bug = new InvalidOperationException("a bug");
        host.LogError(new TaskCanceledException(), "Hosting failed to start");
        directory.LogError(new ObjectDisposedException("IServiceProvider"), "Error processing cluster membership updates.");
        shutdown.Set();
        host.LogError(new TaskCanceledException(), "Hosting failed to start");
        directory.LogError(new ObjectDisposedException("IServiceProvider"), "Error processing cluster membership updates.");
        console.CreateLogger("Orleans.Runtime.Silo").LogWarning(new OperationCanceledException(), "Lifecycle stop operations canceled");
        console.CreateLogger("Orleans.Runtime.GrainCallCancellationManager").LogError(new SiloUnavailableException("The target silo became unavailable"), "Error while cancelling 1 requests");
        host.LogCritical(new TaskCanceledException(), "Critical");
        host.LogError(bug, "Hosting failed to start");

        var records = written.GetSnapshot();
        Assert.Equal(6, records.Count);
        Assert.NotNull(records[0].Exception);
        Assert.NotNull(records[1].Exception);
        Assert.Null(records[2].Exception);
        Assert.Equal("Hosting failed to start (TaskCanceledException: A task was canceled.; the host is stopping)", records[2].Message);
        Assert.Null(records[3].Exception);
        Assert.Equal("Error while cancelling 1 requests (SiloUnavailableException: The target silo became unavailable; the host is stopping)", records[3].Message);
        Assert.NotNull(records[4].Exception);
        Assert.Same(bug, records[5].Exception);
    }

    [Fact]
    public void A_connections_network_error_is_written_without_its_stack_trace_and_other_errors_with_it()
    {
        using var console = Console(out var written);
        var connection = console.CreateLogger("Orleans.Runtime.Messaging.Connection");
        var bug = new InvalidOperationException("a bug");
        connection.LogWarning(new IOException("Connection reset by peer", new SocketException(104)), "Exception while processing messages from remote endpoint {Endpoint}", "127.0.0.1:30002");
        connection.LogWarning(new SocketException(111), "Connection to {Endpoint} failed", "127.0.0.1:11113");
        connection.LogWarning(bug, "Exception while processing messages from remote endpoint {Endpoint}", "127.0.0.1:30002");
        console.CreateLogger("Orleans.Runtime.Catalog").LogWarning(new IOException("disk", new SocketException(104)), "Failed");
        connection.LogWarning(new EndOfStreamException("a frame cut short"), "Exception while processing messages from remote endpoint {Endpoint}", "127.0.0.1:30002");
        console.CreateLogger("Orleans.Connections.Security.TlsServerConnectionMiddleware").LogWarning(new System.Security.Authentication.AuthenticationException("The remote certificate was rejected"), "Authentication failed");
        console.CreateLogger("Orleans.Connections.Security.TlsClientConnectionMiddleware").LogWarning(new IOException("Received an unexpected EOF"), "Authentication failed");

        var records = written.GetSnapshot();
        Assert.Equal("Exception while processing messages from remote endpoint 127.0.0.1:30002 (IOException: Connection reset by peer)", records[0].Message);
        Assert.Null(records[0].Exception);
        Assert.StartsWith("Connection to 127.0.0.1:11113 failed (SocketException: ", records[1].Message, StringComparison.Ordinal);
        Assert.Null(records[1].Exception);
        Assert.Same(bug, records[2].Exception);
        Assert.NotNull(records[3].Exception);
        Assert.IsType<EndOfStreamException>(records[4].Exception);
        Assert.Equal("Authentication failed (AuthenticationException: The remote certificate was rejected)", records[5].Message);
        Assert.Null(records[5].Exception);
        Assert.Equal("Authentication failed (IOException: Received an unexpected EOF)", records[6].Message);
        Assert.Null(records[6].Exception);
    }

    /// <summary>Our console over a fake one that collects what it is given to write.</summary>
    private static QuietConsoleLoggerProvider Console(out FakeLogCollector written, ShutdownSignal? shutdown = null, TimeProvider? time = null)
    {
        written = new FakeLogCollector();
        return new QuietConsoleLoggerProvider(new FakeLoggerProvider(written), shutdown ?? new ShutdownSignal(), time ?? TimeProvider.System);
    }

    private static ServiceProvider Loggers(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddLogging(b => b.AddCoordinationConsole(configuration)).BuildServiceProvider();
    }
}
