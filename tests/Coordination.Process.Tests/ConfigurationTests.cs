using Coordination.TestKit;

namespace Coordination.Process.Tests;

/// <summary>The host refuses bad settings at start, with a message naming the setting, its value and the rule.</summary>
public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("--Coordination:Host:Silos=0", "Coordination:Host:Silos is 0")]
    [InlineData("--Coordination:Host:ListenAddress=not-an-ip", "Coordination:Host:ListenAddress is 'not-an-ip'")]
    [InlineData("--Coordination:Host:GatewayPortBase=80", "Coordination:Host:GatewayPortBase is 80")]
    public async Task The_launcher_refuses_bad_host_settings_before_starting_anything(string setting, string message)
    {
        await using var launcher = ChildProcess.Start("launcher", Repo.SiloDll, [setting, $"--Coordination:Host:DataDirectory={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))}"]);
        var code = await launcher.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains(message, launcher.Output, StringComparison.Ordinal);
        Assert.Contains("Invalid configuration", launcher.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Coordination:Replication:ReplicationFactor=4", "Coordination:Replication:ReplicationFactor is 4")]
    [InlineData("--Coordination:FailureDetectionTime=-00:00:01", "Coordination:FailureDetectionTime is -00:00:01")]
    public async Task A_silo_refuses_bad_coordination_settings_at_start(string setting, string message)
    {
        var ports = Ports.FreeBlock(3);
        await using var silo = ChildProcess.Start("silo", Repo.SiloDll,
        [
            "silo", "--index", "0", setting,
            $"--Coordination:Host:SiloPortBase={ports}", $"--Coordination:Host:GatewayPortBase={ports + 1}", $"--Coordination:Host:HealthPortBase={ports + 2}",
            $"--Coordination:Host:DataDirectory={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))}",
        ]);
        var code = await silo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, code);
        Assert.Contains(message, silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_loopback_HTTP_binding_without_credentials_refuses_to_start_naming_the_setting()
    {
        await using var launcher = ChildProcess.Start("launcher", Repo.SiloDll, ["--Coordination:Host:HttpAddress=0.0.0.0", $"--Coordination:Host:DataDirectory={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))}"]);
        Assert.Equal(2, await launcher.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("Coordination:Host:HttpAddress is '0.0.0.0'", launcher.Output, StringComparison.Ordinal);
        Assert.Contains("Coordination:Host:HttpToken", launcher.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Started silo", launcher.Output, StringComparison.Ordinal);

        var ports = Ports.FreeBlock(3);
        await using var silo = ChildProcess.Start("silo", Repo.SiloDll,
        [
            "silo", "--index", "0", "--Coordination:Host:HttpAddress=0.0.0.0", "--Coordination:Host:FaultInjection=true", "--Coordination:Host:HttpToken=0123456789abcdef-secret",
            $"--Coordination:Host:SiloPortBase={ports}", $"--Coordination:Host:GatewayPortBase={ports + 1}", $"--Coordination:Host:HealthPortBase={ports + 2}",
            $"--Coordination:Host:DataDirectory={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))}",
        ]);
        Assert.Equal(2, await silo.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("Coordination:Host:FaultInjection is true", silo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789abcdef-secret", silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_token_a_silos_HTTP_surfaces_answer_only_callers_presenting_it_except_health()
    {
        const string Token = "0123456789abcdef-secret";
        var ports = Ports.FreeBlock(3);
        await using var silo = ChildProcess.Start("silo", Repo.SiloDll,
        [
            "silo", "--index", "0", $"--Coordination:Host:HttpToken={Token}",
            $"--Coordination:Host:SiloPortBase={ports}", $"--Coordination:Host:GatewayPortBase={ports + 1}", $"--Coordination:Host:HealthPortBase={ports + 2}",
            $"--Coordination:Host:DataDirectory={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))}",
        ]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports + 2}") };
        await Eventually.Async(async () =>
        {
            try
            {
                return (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "the silo's /health/live answering without the token");

        using var anonymous = await http.GetAsync(new Uri("/api/metrics", UriKind.Relative));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/metrics", UriKind.Relative));
        wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token + "x");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        using var right = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/metrics", UriKind.Relative));
        right.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.SendAsync(right)).StatusCode);
    }

    [Fact]
    public async Task An_unknown_config_file_is_named_with_the_ones_that_exist()
    {
        await using var launcher = ChildProcess.Start("launcher", Repo.SiloDll, ["--config", "no-such-config"]);
        Assert.Equal(2, await launcher.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("No silo-config file 'no-such-config'", launcher.Output, StringComparison.Ordinal);
        Assert.Contains("local", launcher.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_launcher_refuses_a_cluster_it_does_not_run_with_a_message_and_code_2()
    {
        await using var launcher = ChildProcess.Start("launcher", Repo.SiloDll,
        [
            "--Coordination:Host:Clustering=Redis", "--Coordination:Host:RedisConnectionString=127.0.0.1:1",
            $"--Coordination:Host:DataDirectory={Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))}",
        ]);
        Assert.Equal(2, await launcher.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("The launcher runs the local cluster", launcher.Output, StringComparison.Ordinal);
    }
}
