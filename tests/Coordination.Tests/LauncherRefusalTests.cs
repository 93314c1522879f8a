using System.Net;
using System.Net.Sockets;
using Coordination.Silo.Configuration;
using Coordination.TestKit;
using Coordination.Silo.Launcher;
using Coordination.Silo.LocalClustering;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Coordination.Tests;

/// <summary>
/// The host refuses to start as configured with a <see cref="SiloConfigurationException"/> (which the program
/// prints and ends with code 2), before it starts a silo or touches the data directory's files.
/// </summary>
public sealed class LauncherRefusalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("coord-launcher-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_launcher_runs_only_the_local_cluster()
    {
        var error = await Assert.ThrowsAsync<SiloConfigurationException>(() => Launcher(("Clustering", "Redis"), ("RedisConnectionString", "127.0.0.1:6379")).RunAsync(CancellationToken.None));
        Assert.Contains("Coordination:Host:Clustering = Local", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_launcher_on_a_data_directory_in_use_refuses_to_start()
    {
        await using var running = new FileStream(Path.Combine(_dir, LocalFiles.Launcher), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        var error = await Assert.ThrowsAsync<SiloConfigurationException>(() => Launcher().RunAsync(CancellationToken.None));
        Assert.Contains("Another launcher is running", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_launcher_refuses_a_data_directory_whose_silos_still_run()
    {
        using var silo = new TcpListener(IPAddress.Loopback, 0);
        silo.Start();
        var table = new FileMembershipTable(Path.Combine(_dir, LocalFiles.Membership));
        var address = SiloAddress.New((IPEndPoint)silo.LocalEndpoint, 1);
        var entry = new MembershipEntry { SiloAddress = address, Status = SiloStatus.Active, SiloName = "silo0", HostName = "h", StartTime = DateTime.UnixEpoch, IAmAliveTime = DateTime.UnixEpoch };
        Assert.True(await table.InsertRow(entry, (await table.ReadAll()).Version.Next()));

        // Bounded: a launcher that failed to refuse would start a cluster and run until cancelled.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var error = await Assert.ThrowsAsync<SiloConfigurationException>(() => Launcher().RunAsync(bound.Token));
        Assert.Contains("silo0", error.Message, StringComparison.Ordinal);
        Assert.Contains("are still running", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, LocalFiles.Membership)), "a refused launcher leaves the running cluster's table alone");
    }

    [Fact]
    public void Operator_actions_without_a_token_refuse_to_start_naming_the_setting()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Launcher(("OperatorActions", "true")));
        Assert.Contains("Coordination:Host:OperatorActions is true without Coordination:Host:HttpToken", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, LocalFiles.Launcher)), "a refused launcher touched its data directory");
    }

    [Fact]
    public async Task A_launcher_whose_dashboard_port_is_taken_refuses_to_start_naming_the_port_and_the_setting()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        // Bounded: a launcher that failed to refuse would start a cluster and run until cancelled.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var error = await Assert.ThrowsAsync<SiloConfigurationException>(() => Launcher(("DashboardPort", port.ToString(System.Globalization.CultureInfo.InvariantCulture))).RunAsync(bound.Token));
        Assert.Contains($"127.0.0.1:{port} is in use", error.Message, StringComparison.Ordinal);
        Assert.Contains("Coordination:Host:DashboardPort", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, LocalFiles.Membership)), "a refused launcher started its cluster (it wrote a membership table)");
    }

    [Fact]
    public void An_unknown_config_file_is_a_configuration_error()
    {
        var error = Assert.Throws<SiloConfigurationException>(() => HostConfiguration.ResolveConfigPath("no-such-config"));
        Assert.Contains("No silo-config file 'no-such-config'", error.Message, StringComparison.Ordinal);
    }

    private LocalClusterLauncher Launcher(params (string Key, string Value)[] settings)
    {
        // A free dashboard port unless the test names one, so that a refusal does not depend on 8080 being free here.
        var dashboard = (Key: "DashboardPort", Value: Ports.FreeBlock(1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(
            settings.Concat(settings.Any(s => s.Key == dashboard.Key) ? [] : [dashboard]).Append((Key: "DataDirectory", Value: _dir)).Select(s => new KeyValuePair<string, string?>($"{SiloHostOptions.Section}:{s.Key}", s.Value))).Build();
        return new LocalClusterLauncher(configuration, HostConfiguration.DefaultConfig, [], NullLogger.Instance, TimeProvider.System);
    }
}
