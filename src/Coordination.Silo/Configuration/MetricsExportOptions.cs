namespace Coordination.Silo.Configuration;

/// <summary>
/// Whether and where each silo exports the service's meters (Coordination.Replication, Coordination.Grains,
/// Coordination.Membership) through OpenTelemetry; bound from <c>Coordination:Host:Metrics</c>. Both default off:
/// the /api/metrics snapshot is always there.
/// </summary>
internal sealed class MetricsExportOptions
{
    public const string Section = SiloHostOptions.Section + ":Metrics";

    /// <summary>The path of the Prometheus scrape endpoint on the silo's HTTP port.</summary>
    public const string PrometheusPath = "/metrics";

    /// <summary>
    /// Serve a Prometheus scrape endpoint at <c>/metrics</c> on each silo's HTTP port (HealthPortBase + i); it needs
    /// <see cref="SiloHostOptions.HttpToken"/> when one is set. Default false.
    /// </summary>
    public bool Prometheus { get; set; }

    /// <summary>Push the meters with OTLP (gRPC, the exporter's default protocol) to this collector (an absolute http or https URL, e.g. http://127.0.0.1:4317). Default none.</summary>
    public string? OtlpEndpoint { get; set; }

    public bool Enabled => Prometheus || OtlpEndpoint is not null;

    /// <summary>Every broken rule, each naming the setting, its value and the rule.</summary>
    public static IEnumerable<string> Check(MetricsExportOptions? o)
    {
        if (o?.OtlpEndpoint is { } endpoint
            && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
        {
            yield return $"{Section}:OtlpEndpoint is '{endpoint}': it must be an absolute http or https URL of an OTLP collector (for example http://127.0.0.1:4317), or left unset.";
        }
    }
}
