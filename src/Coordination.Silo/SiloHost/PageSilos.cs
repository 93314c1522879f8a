namespace Coordination.Silo.SiloHost;

/// <summary>
/// What <c>/api/coordination/silos</c> answers, from a silo (itself) or from the launcher (each of its processes):
/// the coordination page shows every silo's probe view of the others beside its process and readiness.
/// </summary>
internal sealed record PageSilos(IReadOnlyList<PageSilo> Silos);

/// <summary>One silo as the page shows it.</summary>
/// <param name="Restarts">How often the launcher restarted it; null when a silo reports itself.</param>
/// <param name="State"><see cref="Ready"/>, <see cref="NotReady"/> or <see cref="Down"/> (its HTTP endpoint does not answer).</param>
/// <param name="Readiness">Its <c>/health/ready</c> report, as served.</param>
/// <param name="View">Its probe view (<c>/api/membership</c>), as served; null with probes off or when down.</param>
internal sealed record PageSilo(string Name, int? Pid, int? Restarts, string State, object? Readiness, object? View)
{
    public const string Ready = "ready";
    public const string NotReady = "not ready";
    public const string Down = "down";
}

/// <summary>What <c>/api/coordination/metrics</c> answers: each silo's counts so far; the page charts their sums' rates.</summary>
internal sealed record PageMetrics(IReadOnlyList<PageSiloMetrics> Silos);

/// <summary>One silo's <see cref="HeadlineMetrics"/>.</summary>
internal sealed record PageSiloMetrics(string Name, HeadlineMetrics Metrics);
