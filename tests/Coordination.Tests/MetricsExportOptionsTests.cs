using Coordination.Silo.Configuration;
using Coordination.Silo.SiloHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Coordination.Tests;

/// <summary><c>Coordination:Host:Metrics</c>: off by default, bound from configuration, an OTLP endpoint that is no http(s) URL refused by name; the scrape endpoint is not open without the token.</summary>
public sealed class MetricsExportOptionsTests
{
    [Fact]
    public void Export_is_off_by_default()
    {
        var o = HostConfiguration.Bind(Settings()).Metrics;
        Assert.False(o.Prometheus);
        Assert.Null(o.OtlpEndpoint);
        Assert.False(o.Enabled);
    }

    [Theory]
    [InlineData("Prometheus", "true")]
    [InlineData("OtlpEndpoint", "http://127.0.0.1:4317")]
    [InlineData("OtlpEndpoint", "https://collector.example:4317")]
    public void Valid_settings_bind_and_switch_export_on(string setting, string value)
    {
        var o = HostConfiguration.Bind(Settings((setting, value))).Metrics;
        Assert.True(o.Enabled);
    }

    [Theory]
    [InlineData("127.0.0.1:4317")]
    [InlineData("collector")]
    [InlineData("ftp://127.0.0.1:4317")]
    [InlineData("/v1/metrics")]
    public void An_OTLP_endpoint_that_is_no_http_URL_fails_with_the_setting_and_its_value(string value)
    {
        var error = Assert.Throws<OptionsValidationException>(() => HostConfiguration.Bind(Settings(("OtlpEndpoint", value))));
        Assert.Contains($"Coordination:Host:Metrics:OtlpEndpoint is '{value}': it must be an absolute http or https URL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_scrape_endpoint_needs_the_token_when_one_is_set() =>
        Assert.False(HttpCredentials.IsOpen(MetricsExportOptions.PrometheusPath));

    private static IConfiguration Settings(params (string Key, string Value)[] metrics) =>
        new ConfigurationBuilder().AddInMemoryCollection(metrics.Select(m => KeyValuePair.Create<string, string?>($"{MetricsExportOptions.Section}:{m.Key}", m.Value))).Build();
}
