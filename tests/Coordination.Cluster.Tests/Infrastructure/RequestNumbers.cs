using System.Collections.Concurrent;

namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>
/// Request numbers for tests that call the grains directly, as the client library numbers its requests: one
/// counter per session, and the same request id always gets the same number (so a retry is a retry).
/// </summary>
public static class RequestNumbers
{
    private static readonly ConcurrentDictionary<string, long> Counters = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<(string Session, Guid Request), long> Given = new();

    public static long Of(string session, Guid request) =>
        Given.GetOrAdd((session, request), key => Counters.AddOrUpdate(key.Session, 1, (_, n) => n + 1));
}
