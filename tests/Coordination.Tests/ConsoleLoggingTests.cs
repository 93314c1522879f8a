using Coordination.Silo.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
        Assert.Equal(Enum.Parse<ConsoleVerdict>(verdict), QuietConsoleLoggerProvider.Judge(category, level, new EventId(eventId), state, stopping, Age));
    }

    private static ServiceProvider Loggers(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddLogging(b => b.AddCoordinationConsole(configuration)).BuildServiceProvider();
    }
}
