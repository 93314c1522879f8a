using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coordination.Tests;

/// <summary>The client's health check as registered: bad input refused at registration, a missing client told by the check itself.</summary>
public sealed class ClientHealthCheckRegistrationTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(-1)] // Timeout.InfiniteTimeSpan: the check's only wait must end
    [InlineData(2_147_483_648)]
    public void A_timeout_not_positive_or_past_int_MaxValue_milliseconds_is_refused_at_registration(double milliseconds)
    {
        var services = new ServiceCollection();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => services.AddHealthChecks().AddCoordination(timeout: TimeSpan.FromMilliseconds(milliseconds)));
        Assert.Equal("timeout", error.ParamName);
        Assert.DoesNotContain(services, s => s.ServiceType == typeof(HealthCheckService) && s.ImplementationInstance is not null);
    }

    /// <summary>
    /// Without <c>AddCoordinationClient</c>, with it but without an Orleans client (whose grain factory the client's
    /// own registration requires), or with a client whose options cannot be read (no configuration), the check reports
    /// its failure status and the rest of the report still runs.
    /// </summary>
    [Theory]
    [InlineData("nothing")]
    [InlineData("the client, no Orleans client")]
    [InlineData("the client, no configuration")]
    public async Task Without_a_client_the_check_reports_its_failure_status_and_the_report_still_runs(string added)
    {
        var services = new ServiceCollection().AddLogging();
        if (added != "nothing")
        {
            services.AddCoordinationClient();
        }

        if (added == "the client, no Orleans client")
        {
            services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        }

        services.AddHealthChecks().AddCoordination(failureStatus: HealthStatus.Degraded).AddCheck("other", () => HealthCheckResult.Healthy());
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        var coordination = report.Entries["coordination"];
        var expected = added == "the client, no configuration" ? "could not be made" : "No coordination client";
        Assert.True(coordination.Status == HealthStatus.Degraded && coordination.Description!.Contains(expected, StringComparison.Ordinal), $"{coordination.Status}: {coordination.Description} {coordination.Exception}");
        Assert.Equal(HealthStatus.Healthy, report.Entries["other"].Status);
    }
}
