using Coordination.Cluster.Tests.Infrastructure;

namespace Coordination.Cluster.Tests;

/// <summary>
/// <see cref="IPingGrain"/>, the benchmark's transport floor: a client's call is answered with its own value, and
/// concurrent calls each get their own answer (the stateless worker keeps nothing between calls).
/// </summary>
public sealed class PingGrainTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task A_ping_returns_its_value_to_every_concurrent_caller()
    {
        var ping = fixture.Cluster.Grains.GetGrain<IPingGrain>(0);
        var values = Enumerable.Range(1, 64).Select(i => (long)i * 7919).ToArray();

        var answers = await Task.WhenAll(values.Select(ping.Ping));

        Assert.Equal(values, answers);
    }
}
