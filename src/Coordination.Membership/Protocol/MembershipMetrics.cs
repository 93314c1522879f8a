using System.Diagnostics.Metrics;

namespace Coordination.Membership.Protocol;

/// <summary>Metrics of our SWIM/Lifeguard probes on the "Coordination.Membership" meter: round trips, suspicions, deaths.</summary>
internal static class MembershipMetrics
{
    public const string MeterName = "Coordination.Membership";

    public static readonly Meter Meter = new(MeterName, "1.0");

    public static readonly Histogram<double> ProbeRoundTrip = Meter.CreateHistogram<double>(
        "coordination.probes.round_trip", "ms", "Round trip of a direct probe answered by its target (indirect acks are not counted).");

    public static readonly Counter<long> Suspicions = Meter.CreateCounter<long>(
        "coordination.probes.suspicions", "{suspicion}", "Suspicions raised by this silo's view.");

    public static readonly Counter<long> Deaths = Meter.CreateCounter<long>(
        "coordination.probes.deaths_declared", "{death}", "Deaths this silo declared and handed to Orleans.");
}
