using System.Diagnostics.Metrics;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Locks;

/// <summary>Lock and session metrics on the "Coordination" meter.</summary>
internal static class LockMetrics
{
    public static readonly Histogram<double> AcquireDuration = ReplicationMetrics.Meter.CreateHistogram<double>(
        "coordination.lock.acquire.duration", "ms", "Time a lock grain spent on one acquire call, from arrival to reply (parking included).");

    public static readonly Histogram<double> ReleaseDuration = ReplicationMetrics.Meter.CreateHistogram<double>(
        "coordination.lock.release.duration", "ms", "Time a lock grain spent on one release call.");

    public static readonly Counter<long> Grants = ReplicationMetrics.Meter.CreateCounter<long>(
        "coordination.lock.grants", "{grant}", "Grants answered to callers.");

    public static readonly Counter<long> SessionExpirations = ReplicationMetrics.Meter.CreateCounter<long>(
        "coordination.session.expirations", "{session}", "Sessions whose lease ran out.");

    public static readonly Counter<long> KeepAlives = ReplicationMetrics.Meter.CreateCounter<long>(
        "coordination.session.keepalives", "{keepalive}", "Keepalives acknowledged after a majority accept.");
}
