using Coordination.Replication.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Coordination.Silo.Configuration;

/// <summary>Where the silos keep their shared membership table and configuration metadata.</summary>
internal enum ClusteringMode
{
    /// <summary>Files in <see cref="SiloHostOptions.DataDirectory"/>: every silo on one machine (the local cluster).</summary>
    Local = 0,

    /// <summary>Redis at <see cref="SiloHostOptions.RedisConnectionString"/>: silos on several machines.</summary>
    Redis = 1,
}

/// <summary>How Orleans' own membership probes are tuned.</summary>
internal enum MembershipPreset
{
    /// <summary>Orleans' defaults (a crashed silo is declared dead after about 10 s, a hung one after about a minute).</summary>
    OrleansDefaults = 0,

    /// <summary>Tight probes for loopback and LAN: 1 s probe timeout, 2 missed probes, 2 votes; a crashed silo is dead in a few seconds.</summary>
    Fast = 1,
}

/// <summary>Our own SWIM/Lifeguard probes: off, or a preset (see <c>ProbeOptions</c>), refined by <c>Coordination:Probes</c>.</summary>
internal enum ProbePreset
{
    /// <summary>Only Orleans' own membership detects failures.</summary>
    Off = 0,

    /// <summary>Loopback / one machine: 250 ms probes, 100 ms timeout; a crashed or hung silo is dead in about 1.5 s.</summary>
    Local = 1,

    /// <summary>Silos on separate machines: 1 s probes, 500 ms timeout.</summary>
    Lan = 2,

    /// <summary>Local, slowed for test machines running many things at once: 500 ms probes, 250 ms timeout.</summary>
    Ci = 3,
}

/// <summary>The silo host's settings, bound from the configuration section <c>Coordination:Host</c> (see silo-config/).</summary>
internal sealed class SiloHostOptions
{
    public const string Section = "Coordination:Host";

    /// <summary>Local (files, one machine) or Redis (several machines). Default Local.</summary>
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Local;

    /// <summary>The Orleans cluster id. Default coordination-local.</summary>
    public string ClusterId { get; set; } = "coordination-local";

    /// <summary>The Orleans service id (also names the metadata in Redis). Default coordination.</summary>
    public string ServiceId { get; set; } = "coordination";

    /// <summary>How many silo processes the launcher starts. Default 3.</summary>
    public int Silos { get; set; } = 3;

    /// <summary>The address silos and gateways bind to. Default 127.0.0.1 (loopback only).</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The address every HTTP surface binds to: each silo's health endpoints and JSON API, the launcher's dashboard,
    /// coordination page and its API. Default 127.0.0.1 (loopback only); any other address needs <see cref="HttpToken"/>.
    /// </summary>
    public string HttpAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The secret HTTP callers present: <c>Authorization: Bearer TOKEN</c>, or Basic with any user name and TOKEN as the
    /// password (a browser's login prompt). At least 16 characters, no white space. Default none. When set, every
    /// endpoint needs it except <c>/health/live</c>, <c>/health/ready</c> and <c>/api/orleans-membership</c>, which
    /// load balancers and clients looking for gateways read.
    /// </summary>
    public string? HttpToken { get; set; }

    /// <summary>
    /// Mutual TLS on every silo's silo, gateway and replica ports (<see cref="ClusterTls"/>): <c>CertificatePath</c> (a
    /// PEM certificate with <c>KeyPath</c>, or PKCS#12 with <c>Password</c>), valid for server and client
    /// authentication, and <c>TrustedCaPath</c>, the cluster's own authority, which every silo's and client's
    /// certificate must chain to. Default none: in the clear, for loopback or a network you trust.
    /// </summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>Silo i listens for silos on SiloPortBase + i. Default 11111.</summary>
    public int SiloPortBase { get; set; } = 11111;

    /// <summary>Silo i listens for clients on GatewayPortBase + i. Default 30000.</summary>
    public int GatewayPortBase { get; set; } = 30000;

    /// <summary>Silo i serves health and its coordination API on HealthPortBase + i. Default 8091.</summary>
    public int HealthPortBase { get; set; } = 8091;

    /// <summary>The launcher serves the Orleans dashboard and the coordination page here. Default 8080.</summary>
    public int DashboardPort { get; set; } = 8080;

    /// <summary>Where the local cluster keeps its membership table, metadata and logs. Default .coord-local (relative to the working directory).</summary>
    public string DataDirectory { get; set; } = ".coord-local";

    /// <summary>The Redis connection string when <see cref="Clustering"/> is Redis.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>The process that started this one: set by the launcher for its silos, and by tests and benchmarks for the launcher. A silo whose launcher is gone, or a launcher whose starter is gone, stops gracefully instead of running on as an orphan.</summary>
    public int? ParentProcessId { get; set; }

    /// <summary>Whether silos collect statistics for the Orleans dashboard (the launcher serves it). Default true.</summary>
    public bool Dashboard { get; set; } = true;

    /// <summary>Orleans membership probe tuning. Default OrleansDefaults: with our probes on, Orleans' own is the slow backstop.</summary>
    public MembershipPreset Membership { get; set; } = MembershipPreset.OrleansDefaults;

    /// <summary>OpenTelemetry export of the service's meters (Prometheus scrape endpoint, OTLP). Default off.</summary>
    public MetricsExportOptions Metrics { get; set; } = new();

    /// <summary>Our SWIM/Lifeguard probes. Default Local.</summary>
    public ProbePreset Probes { get; set; } = ProbePreset.Local;

    /// <summary>Whether the launcher restarts a silo process that exits on its own. Default true.</summary>
    public bool RestartFailedSilos { get; set; } = true;

    /// <summary>How long the launcher waits before restarting a failed silo. Default 1 s.</summary>
    public TimeSpan RestartDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether the coordination page and its JSON API offer operator actions: revoke a lock or an election's leadership,
    /// re-initialise a partition that lost its majority. Each is confirmed in the page, needs an operator name and a
    /// reason, and is written to the audit trail. Needs <see cref="HttpToken"/>, even on loopback. Default false.
    /// </summary>
    public bool OperatorActions { get; set; }

    /// <summary>
    /// Test only: serve <c>/api/faults</c> so the fault suite can partition this silo from others and skew its
    /// wall clock, and allow the deliberately unsafe <see cref="Unsafe"/> controls. Default false;
    /// never on in production.
    /// </summary>
    public bool FaultInjection { get; set; }

    /// <summary>Test only, BROKEN ON PURPOSE unless None: a deliberately unsafe variant for the fault suite's controls. Needs <see cref="FaultInjection"/>. Default None.</summary>
    public UnsafeControl Unsafe { get; set; } = UnsafeControl.None;

    /// <summary>The TLS material <see cref="Tls"/> names (checked at start), or null without it.</summary>
    public ClusterTls? LoadTls() => Tls.IsConfigured ? ClusterTls.Load(Tls, silo: true) : null;

    public int SiloPort(int index) => SiloPortBase + index;

    public int GatewayPort(int index) => GatewayPortBase + index;

    public int HealthPort(int index) => HealthPortBase + index;

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    /// <summary>The URL an HTTP surface on <paramref name="port"/> binds to.</summary>
    public string HttpBinding(int port) => Url(HttpAddress, port);

    /// <summary>The URL this machine calls an HTTP surface on <paramref name="port"/> at (loopback when they bind to every address).</summary>
    public string HttpLocalUrl(int port) => Url(HttpAddress is "0.0.0.0" or "::" ? "127.0.0.1" : HttpAddress, port);

    private static string Url(string address, int port) => address.Contains(':', StringComparison.Ordinal) ? $"http://[{address}]:{port}" : $"http://{address}:{port}";

    public void ApplyMembershipPreset(ClusterMembershipOptions o)
    {
        if (Membership != MembershipPreset.Fast)
        {
            return;
        }

        o.ProbeTimeout = TimeSpan.FromSeconds(1);
        o.NumMissedProbesLimit = 2;
        o.NumProbedSilos = 3;
        o.NumVotesForDeathDeclaration = 2;
        o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
    }
}

/// <summary>Checks <see cref="SiloHostOptions"/> at start, naming the setting, its value and the rule.</summary>
internal sealed class SiloHostOptionsValidator : IValidateOptions<SiloHostOptions>
{
    public ValidateOptionsResult Validate(string? name, SiloHostOptions o)
    {
        var s = SiloHostOptions.Section;
        var failures = new List<string>();
        if (o.Silos is < 1 or > 9)
        {
            failures.Add($"{s}:Silos is {o.Silos}: the launcher runs 1 to 9 silo processes (3 for replication factor 3).");
        }

        foreach (var (setting, port) in new[] { ("SiloPortBase", o.SiloPortBase), ("GatewayPortBase", o.GatewayPortBase), ("HealthPortBase", o.HealthPortBase), ("DashboardPort", o.DashboardPort) })
        {
            if (port is < 1024 or > 65000)
            {
                failures.Add($"{s}:{setting} is {port}: it must be between 1024 and 65000.");
            }
        }

        if (!System.Net.IPAddress.TryParse(o.ListenAddress, out _))
        {
            failures.Add($"{s}:ListenAddress is '{o.ListenAddress}': it must be an IP address (127.0.0.1 keeps the cluster on loopback).");
        }

        failures.AddRange(HttpExposure.Check(o));
        if (o.Tls.IsConfigured)
        {
            try
            {
                o.LoadTls();
            }
            catch (ClusterTlsException ex)
            {
                failures.Add($"{s}:Tls: {ex.Message}");
            }
        }

        failures.AddRange(MetricsExportOptions.Check(o.Metrics));

        if (o.Clustering == ClusteringMode.Redis && string.IsNullOrWhiteSpace(o.RedisConnectionString))
        {
            failures.Add($"{s}:RedisConnectionString is '{o.RedisConnectionString}': Redis clustering needs it (for example 127.0.0.1:6379).");
        }

        foreach (var (setting, value, rule) in new[]
        {
            ("ClusterId", o.ClusterId, "it names the Orleans cluster"),
            ("ServiceId", o.ServiceId, "it names the Orleans service and its metadata"),
            ("DataDirectory", o.DataDirectory, "the local cluster keeps its membership table and metadata there"),
        })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                failures.Add($"{s}:{setting} is '{value}': it must not be empty ({rule}).");
            }
        }

        if (o.Unsafe != UnsafeControl.None && !o.FaultInjection)
        {
            failures.Add($"{s}:Unsafe is {o.Unsafe}: a deliberately broken variant for the fault suite's controls; it needs {s}:FaultInjection=true and must never run in production.");
        }

        if (o.RestartDelay < TimeSpan.Zero)
        {
            failures.Add($"{s}:RestartDelay is {o.RestartDelay}: it must not be negative.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
