using System.Diagnostics.Metrics;

namespace Coordination.Replication.Protocol;

/// <summary>
/// Metrics of the replication layer, on the "Coordination.Replication" meter (the silo host exports it with
/// OpenTelemetry when switched on; dotnet-counters watches it too): round trip of prepare/accept rounds to a
/// majority, group-commit batch sizes, failed rounds, recoveries, forgotten registers.
/// </summary>
internal static class ReplicationMetrics
{
    public const string MeterName = "Coordination.Replication";

    public static readonly Meter Meter = new(MeterName, "1.0");

    public static readonly Histogram<double> RoundDuration = Meter.CreateHistogram<double>(
        "coordination.register.round.duration", "ms", "Time for one prepare or accept round to reach a majority (or fail).");

    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>(
        "coordination.register.batch.size", "{change}", "Changes folded into one accept (group commit).");

    public static readonly Counter<long> FailedRounds = Meter.CreateCounter<long>(
        "coordination.register.rounds.failed", "{round}", "Rounds that missed their majority (contention, lost replicas, configuration changes).");

    public static readonly Counter<long> HedgedRounds = Meter.CreateCounter<long>(
        "coordination.register.rounds.hedged", "{round}", "Thrifty rounds that asked the remaining members too: one asked first failed, or did not answer within the hedge delay.");

    public static readonly Histogram<double> RecoveryDuration = Meter.CreateHistogram<double>(
        "coordination.replica.recovery.duration", "s", "Time a recovering replica took to copy one partition from a majority (streamed in pages).");

    public static readonly Counter<long> RegistersForgotten = Meter.CreateCounter<long>(
        "coordination.register.forgotten", "{register}", "Deleted registers whose tombstones every replica has dropped.");
}
