using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.Silo.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

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

    [Fact]
    public void Configuration_alone_gives_every_key_the_real_register()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [ReplicationOptions.Section + ":Unsafe"] = "LeaseOnly" }).Build();
        var options = new ReplicationOptions();
        configuration.GetSection(ReplicationOptions.Section).Bind(options);
        Assert.IsType<RegisterProposer<Cell>>(Factory(options).Create<Cell>("k"));
    }

    [Fact]
    public async Task The_lease_only_control_set_by_the_host_is_a_register_of_its_own_that_no_replica_sees()
    {
        var register = Factory(new ReplicationOptions { Unsafe = UnsafeControl.LeaseOnly }).Create<Cell>("k");
        Assert.IsType<LeaseOnlyRegister<Cell>>(register);
        var committed = new List<Cell?>();
        register.Committed = committed.Add;

        // The factory's transport is null: any message to a replica would throw.
        Assert.Equal("done", await register.ExecuteAsync((c, _) => (new Cell((c?.Value ?? 0) + 1), "done")));
        Assert.Equal(1, Assert.Single(committed)!.Value);
        Assert.Equal(1, register.Rounds);
        Assert.Null(register.CachedValue);
    }

    private static RegisterFactory Factory(ReplicationOptions options) =>
        new(new OneReplicaDirectory(), null!, TimeProvider.System, Options.Create(options));

    private static IConfiguration Settings(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(SiloHostOptions.Section + ":" + s.Key, s.Value))).Build();

    private sealed record Cell(int Value);

    private sealed class OneReplicaDirectory : IPartitionDirectory
    {
        private static readonly PartitionConfiguration Config = new(0, 1, [new ReplicaMember(new ReplicaId("a"), 1)], 1, 1, []);

        public int PartitionCount => 1;

        public PartitionConfiguration Get(int partition) => Config;

        public Task<PartitionConfiguration> RefreshAsync(int partition, long seenEpoch, CancellationToken cancellationToken) => Task.FromResult(Config);

        public bool IsDead(ReplicaId replica) => false;
    }
}
