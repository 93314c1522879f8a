using System.Diagnostics.Metrics;

namespace Coordination.Grains.Locks;

/// <summary>Metrics of the grains layer (locks, sessions, revokes, failovers) on the "Coordination.Grains" meter.</summary>
internal static class LockMetrics
{
    public const string MeterName = "Coordination.Grains";

    public static readonly Meter Meter = new(MeterName, "1.0");

    public static readonly Histogram<double> AcquireDuration = Meter.CreateHistogram<double>(
        "coordination.lock.acquire.duration", "ms", "Time a lock grain spent on one acquire call, from arrival to reply (parking included).");

    public static readonly Histogram<double> ReleaseDuration = Meter.CreateHistogram<double>(
        "coordination.lock.release.duration", "ms", "Time a lock grain spent on one release call.");

    public static readonly Counter<long> Grants = Meter.CreateCounter<long>(
        "coordination.lock.grants", "{grant}", "Grants answered to callers.");

    public static readonly Counter<long> SessionExpirations = Meter.CreateCounter<long>(
        "coordination.session.expirations", "{session}", "Sessions whose lease ran out.");

    public static readonly Counter<long> KeepAlives = Meter.CreateCounter<long>(
        "coordination.session.keepalives", "{keepalive}", "Keepalives acknowledged after a majority accept.");

    public static readonly Counter<long> Waits = Meter.CreateCounter<long>(
        "coordination.lock.waits", "{request}", "Acquire calls answered with a queue position (the lock was held); a caller re-polling a long wait counts once per call.");

    public static readonly Counter<long> Revokes = Meter.CreateCounter<long>(
        "coordination.lock.revokes", "{grant}", "Grants an operator revoked.");

    public static readonly Counter<long> SessionRevokes = Meter.CreateCounter<long>(
        "coordination.session.revokes", "{session}", "Sessions an operator revoked (each once; they end when their client hears, or their lease runs out).");

    public static readonly Counter<long> Failovers = Meter.CreateCounter<long>(
        "coordination.failover.reactivations", "{grain}", "Sessions, locks and elections this silo re-activated from its replicas after a silo died (or left leftovers).");

    public static readonly Counter<long> LaneFramesReceived = Meter.CreateCounter<long>(
        "coordination.lane.frames.received", "{frame}", "Frames this silo read on client lane connections after their hello: lock calls and pings.");

    public static readonly Counter<long> LaneFramesSent = Meter.CreateCounter<long>(
        "coordination.lane.frames.sent", "{frame}", "Frames this silo wrote on client lane connections after their hello: replies and ping answers.");
}
