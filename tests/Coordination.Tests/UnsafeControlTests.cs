using Coordination.Replication.Hosting;
using Coordination.Silo.Configuration;
using Microsoft.Extensions.Configuration;

namespace Coordination.Tests;

/// <summary>The deliberately broken variants cannot be switched on by configuration alone, nor without fault injection.</summary>
public sealed class UnsafeControlTests
{
    [Fact]
    public void Replication_settings_from_configuration_never_set_an_unsafe_variant()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [ReplicationOptions.Section + ":Unsafe"] = "LeaseOnly" }).Build();
        var options = new ReplicationOptions();
        configuration.GetSection(ReplicationOptions.Section).Bind(options);
        Assert.Equal(UnsafeControl.None, options.Unsafe);
    }

    [Fact]
    public void The_host_refuses_an_unsafe_variant_without_fault_injection()
    {
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => HostConfiguration.Bind(Settings(("Unsafe", "TokensFromMemory"))));
        Assert.Contains("Coordination:Host:Unsafe is TokensFromMemory", error.Message, StringComparison.Ordinal);
        Assert.Equal(UnsafeControl.LeaseOnly, HostConfiguration.Bind(Settings(("Unsafe", "LeaseOnly"), ("FaultInjection", "true"))).Unsafe);
    }

    private static IConfiguration Settings(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(SiloHostOptions.Section + ":" + s.Key, s.Value))).Build();
}
