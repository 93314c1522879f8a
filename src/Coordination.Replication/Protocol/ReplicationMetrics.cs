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

    public static readonly Counter<long> Rounds = Meter.CreateCounter<long>(
        "coordination.register.rounds", "{round}", "Prepare, accept and delete rounds by phase and register kind (the key's prefix: l lock, s session, e election, ...).");

    /// <summary>Records one round's duration and count, tagged with its outcome, phase and register kind.</summary>
    public static void RecordRound(double milliseconds, bool ok, ReplicaRequest asked)
    {
        var outcome = new KeyValuePair<string, object?>("outcome", ok ? "majority" : "failed");
        var phase = new KeyValuePair<string, object?>("phase", PhaseOf(asked));
        var register = new KeyValuePair<string, object?>("register", KindOf(asked.Key));
        RoundDuration.Record(milliseconds, outcome, phase, register);
        Rounds.Add(1, outcome, phase, register);
    }

    /// <summary>A round's phase, as its duration's "phase" tag: prepare, accept, or delete (an accept of nothing).</summary>
    public static string PhaseOf(ReplicaRequest request) =>
        request.Operation == ReplicaOperation.Prepare ? "prepare" : request.Value is null ? "delete" : "accept";

    /// <summary>A register's kind, as a round's "register" tag: its key up to the first '/' (the service's kind prefix), so the tag has a few values, not one per key.</summary>
    public static string KindOf(string key) => key.IndexOf('/', StringComparison.Ordinal) switch
    {
        1 when key[0] < Kinds.Length => Kinds[key[0]] ??= key[..1],
        _ => "other",
    };

    private static readonly string?[] Kinds = new string?[128];

    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>(
        "coordination.register.batch.size", "{change}", "Changes folded into one accept (group commit).");

    public static readonly Counter<long> FailedRounds = Meter.CreateCounter<long>(
        "coordination.register.rounds.failed", "{round}", "Rounds that missed their majority (contention, lost replicas, configuration changes).");

    public static readonly Counter<long> HedgedRounds = Meter.CreateCounter<long>(
        "coordination.register.rounds.hedged", "{round}", "Thrifty rounds that asked the remaining members too: one asked first failed, or did not answer within the hedge delay.");

    public static readonly Histogram<double> RecoveryDuration = Meter.CreateHistogram<double>(
        "coordination.replica.recovery.duration", "s", "Time a recovering replica took to copy one partition from a majority (streamed in pages).");

    public static readonly Counter<long> DirectFramesSent = Meter.CreateCounter<long>(
        "coordination.replica.direct.frames", "{frame}", "Frames this silo wrote on direct replica connections: batches to other silos, and replies to theirs.");

    public static readonly Counter<long> DirectBatchesDeclined = Meter.CreateCounter<long>(
        "coordination.replica.direct.declined", "{batch}", "Replica batches a direct connection declined and sent through Orleans instead: larger than half its bound, or too much unanswered on it (the other silo slow to reply).");

    public static readonly Counter<long> RegistersForgotten = Meter.CreateCounter<long>(
        "coordination.register.forgotten", "{register}", "Deleted registers whose tombstones every replica has dropped.");

    public static readonly Counter<long> TombstonesCollected = Meter.CreateCounter<long>(
        "coordination.register.tombstones.collected", "{register}", "Tombstones the replicas' collectors dropped everywhere (their writer could not: a member missed the deletion, answered it late, or lost the forget); counted in coordination.register.forgotten too.");
}
