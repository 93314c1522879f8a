using Coordination.Grains.Hosting;
using Coordination.Replication.Hosting;
using Coordination.Silo.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Coordination.Tests;

public sealed class OptionsValidationTests
{
    private static readonly IValidateOptions<ReplicationOptions> Replication = (IValidateOptions<ReplicationOptions>)Activator.CreateInstance(
        typeof(ReplicationOptions).Assembly.GetType("Coordination.Replication.Hosting.ReplicationOptionsValidator")!)!;

    private static readonly IValidateOptions<CoordinationOptions> Coordination = (IValidateOptions<CoordinationOptions>)Activator.CreateInstance(
        typeof(CoordinationOptions).Assembly.GetType("Coordination.Grains.Hosting.CoordinationOptionsValidator")!)!;

    [Fact]
    public void Defaults_are_valid()
    {
        Assert.True(Replication.Validate(null, new ReplicationOptions()).Succeeded);
        Assert.True(Coordination.Validate(null, new CoordinationOptions()).Succeeded);
        Assert.True(new SiloHostOptionsValidator().Validate(null, new SiloHostOptions()).Succeeded);
    }

    public static TheoryData<Action<ReplicationOptions>, string> BadReplication => new()
    {
        { o => o.ReplicationFactor = 4, "Coordination:Replication:ReplicationFactor is 4: use 3" },
        { o => o.ReplicationFactor = 1, "ReplicationFactor is 1" },
        { o => o.PartitionCount = 0, "Coordination:Replication:PartitionCount is 0" },
        { o => o.PartitionCount = 5000, "PartitionCount is 5000" },
        { o => o.RoundTimeout = TimeSpan.Zero, "RoundTimeout is 00:00:00" },
        { o => o.OperationTimeout = TimeSpan.FromSeconds(40), "OperationTimeout is 00:00:40: it must be at least RoundTimeout" },
        { o => o.MaxBatch = 0, "MaxBatch is 0" },
        { o => o.HedgeDelay = TimeSpan.FromMilliseconds(-1), "HedgeDelay is -00:00:00.0010000: it must be at least 0 (ask every replica at once) and below RoundTimeout (00:00:01)" },
        { o => o.HedgeDelay = TimeSpan.FromSeconds(1), "HedgeDelay is 00:00:01: it must be at least 0" },
        { o => o.WaiterLinger = TimeSpan.FromMilliseconds(-1), "WaiterLinger is -00:00:00.0010000: it must be between 0 and 100 ms" },
        { o => o.WaiterLinger = TimeSpan.FromSeconds(1), "WaiterLinger is 00:00:01: it must be between 0 and 100 ms" },
    };

    [Theory]
    [MemberData(nameof(BadReplication))]
    public void Bad_replication_settings_fail_with_the_setting_its_value_and_the_rule(Action<ReplicationOptions> change, string message)
    {
        var options = new ReplicationOptions();
        change(options);
        var result = Replication.Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void The_hedge_delay_reaches_the_proposers_and_zero_asks_every_replica_at_once()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(5), new ReplicationOptions().ToProposerOptions().HedgeDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(20), new ReplicationOptions { HedgeDelay = TimeSpan.FromMilliseconds(20) }.ToProposerOptions().HedgeDelay);
        Assert.Null(new ReplicationOptions { HedgeDelay = TimeSpan.Zero }.ToProposerOptions().HedgeDelay);
    }

    public static TheoryData<Action<CoordinationOptions>, string> BadCoordination => new()
    {
        { o => o.FailureDetectionTime = TimeSpan.Zero, "Coordination:FailureDetectionTime is 00:00:00" },
        { o => o.KeepAliveFraction = 1.5, "Coordination:KeepAliveFraction is 1.5" },
        { o => o.MaxSessionTtl = TimeSpan.FromSeconds(2), "Coordination:MaxSessionTtl is 00:00:02: it must be at least the minimum TTL" },
        { o => o.MaxPark = TimeSpan.FromSeconds(30), "Coordination:MaxPark is 00:00:30" },
        { o => o.MaxLockDelay = TimeSpan.FromSeconds(-1), "Coordination:MaxLockDelay is -00:00:01" },
        { o => o.HolderAuditInterval = TimeSpan.Zero, "Coordination:HolderAuditInterval is 00:00:00" },
        { o => o.ReleasedLatchRetention = TimeSpan.FromSeconds(5), "Coordination:ReleasedLatchRetention is 00:00:05: it must be between 30 s" },
    };

    [Theory]
    [MemberData(nameof(BadCoordination))]
    public void Bad_session_and_lock_settings_fail_with_the_setting_its_value_and_the_rule(Action<CoordinationOptions> change, string message)
    {
        var options = new CoordinationOptions();
        change(options);
        var result = Coordination.Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5, 1, 1.0 / 3, 9)]
    [InlineData(1, 0.5, 1.0 / 3, 2.25)]
    [InlineData(10, 2, 0.5, 24)]
    public void The_minimum_ttl_covers_failure_detection_margin_and_a_keepalive_interval(double detection, double margin, double fraction, double minimum)
    {
        var o = new CoordinationOptions { FailureDetectionTime = TimeSpan.FromSeconds(detection), SafetyMargin = TimeSpan.FromSeconds(margin), KeepAliveFraction = fraction };
        Assert.Equal(minimum, o.MinimumSessionTtl.TotalSeconds, precision: 6);
        Assert.Equal(o.MinimumSessionTtl, o.ValidateTtl(o.MinimumSessionTtl));
        Assert.Throws<InvalidTtlException>(() => o.ValidateTtl(o.MinimumSessionTtl - TimeSpan.FromMilliseconds(1)));
    }

    [Theory]
    [InlineData("Silos", "0", "Coordination:Host:Silos is 0: the launcher runs 1 to 9")]
    [InlineData("HealthPortBase", "80", "Coordination:Host:HealthPortBase is 80: it must be between 1024 and 65000")]
    [InlineData("ListenAddress", "localhost", "Coordination:Host:ListenAddress is 'localhost': it must be an IP address")]
    [InlineData("Clustering", "Redis", "Coordination:Host:RedisConnectionString is '': Redis clustering needs it")]
    [InlineData("ClusterId", " ", "Coordination:Host:ClusterId is ' ': it must not be empty")]
    [InlineData("ServiceId", "", "Coordination:Host:ServiceId is '': it must not be empty")]
    [InlineData("DataDirectory", "", "Coordination:Host:DataDirectory is '': it must not be empty")]
    [InlineData("RestartDelay", "-00:00:01", "Coordination:Host:RestartDelay is -00:00:01: it must not be negative")]
    public void Bad_host_settings_fail_with_the_setting_its_value_and_the_rule(string setting, string value, string message)
    {
        var error = Assert.Throws<OptionsValidationException>(() => HostConfiguration.Bind(Settings((setting, value))));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_settings_are_validated_when_a_host_starts_and_when_bound_before_one()
    {
        var configuration = Settings(("Silos", "0"), ("ListenAddress", "nowhere"));

        var bound = Assert.Throws<OptionsValidationException>(() => HostConfiguration.Bind(configuration));
        Assert.Equal(2, bound.Failures.Count());

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSiloHostOptions(configuration);
        using var host = builder.Build();
        var started = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal(bound.Failures, started.Failures);
    }

    private static IConfiguration Settings(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>($"{SiloHostOptions.Section}:{s.Key}", s.Value))).Build();
}
