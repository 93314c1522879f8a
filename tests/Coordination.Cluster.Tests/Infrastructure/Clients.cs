using Coordination.Client;
using Coordination.Client.Lanes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Coordination.Cluster.Tests.Infrastructure;

public static class Clients
{
    /// <summary>A client as an application would configure it, with timings scaled to the test cluster (3 s sessions).</summary>
    public static CoordinationClient NewClient(this CoordinationCluster cluster, Action<CoordinationClientOptions>? configure = null) =>
        cluster.NewClient(ClientFaults.None, configure);

    /// <summary>The same client running a broken-on-purpose variant, for a control the tests must catch.</summary>
    internal static CoordinationClient NewClient(this CoordinationCluster cluster, ClientFaults faults, Action<CoordinationClientOptions>? configure = null)
    {
        var options = new CoordinationClientOptions
        {
            SessionTtl = CoordinationCluster.Ttl,
            DeadlineMargin = TimeSpan.FromMilliseconds(200),
            MaxPark = TimeSpan.FromSeconds(2),
            // The client's default: a parked call's reply may wait for a round of its own (a withdrawn waiter), up to the
            // cluster's RoundTimeout, and a stall of the test process on top of it.
            CallGrace = TimeSpan.FromSeconds(2),
            RetryDelay = TimeSpan.FromMilliseconds(50),
        };
        configure?.Invoke(options);
        var changes = new ClusterChangeSignal(TimeProvider.System);
        return new CoordinationClient(cluster.Grains, Options.Create(options), TimeProvider.System, null, changes, faults, lane: cluster.NewLane(changes, options));
    }

    /// <summary>
    /// The client lane as <c>AddCoordinationClient</c> makes it (the clients here come without a host): on unless
    /// <paramref name="options"/> switch it off, so the suites' lock calls take the lane as an application's do.
    /// </summary>
    internal static LockLane? NewLane(this CoordinationCluster cluster, ClusterChangeSignal changes, CoordinationClientOptions options) =>
        options.ClientLane
            ? new LockLane(cluster.Grains, cluster.Client.ServiceProvider.GetRequiredService<Serializer>(), null, changes, options, TimeProvider.System, NullLogger.Instance)
            : null;
}
