using Coordination.Client;
using Coordination.Grains.Hosting;
using Coordination.Replication.Configuration;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Coordination.Cluster.Tests;

/// <summary>
/// An Orleans application that runs the service in its own silos, configured with only the lines the README's
/// "Embedding" section shows (no test timings, no fault hooks): its silos grant fenced, exclusive locks through
/// the client the same lines register.
/// </summary>
public sealed class EmbeddingTests
{
    [Fact]
    public async Task Silos_configured_as_the_README_shows_grant_fenced_exclusive_locks_through_their_own_client()
    {
        // The README's lines, applied to each silo of the test cluster (it brings its own membership).
        var metadata = new InMemoryClusterMetadataStore();
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton<IClusterMetadataStore>(metadata);
            silo.AddCoordination(
                o => o.FailureDetectionTime = TimeSpan.FromSeconds(5),
                r => r.ReplicationFactor = 3);
            silo.Services.AddCoordinationClient(o => o.SessionTtl = TimeSpan.FromSeconds(15));
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();

        var first = cluster.Silos[0].ServiceProvider.GetRequiredService<ICoordinationClient>();
        var second = cluster.Silos[2].ServiceProvider.GetRequiredService<ICoordinationClient>();
        var name = $"embedded/{Guid.NewGuid():N}";
        CoordinationLockHandle? held = null;
        await Eventually.Async(async () =>
        {
            held = await first.CreateLock(name).TryAcquireAsync(TimeSpan.FromSeconds(5));
            return held is not null;
        }, TimeSpan.FromSeconds(60), "the first lock granted once the silos have placed their replicas");

        Assert.Null(await second.CreateLock(name).TryAcquireAsync(TimeSpan.FromMilliseconds(200)));
        await held!.DisposeAsync();
        await using var next = await second.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10));
        Assert.True(next.FencingToken > held.FencingToken, $"token {next.FencingToken} after {held.FencingToken}");
        await Eventually.Async(async () => (await metadata.ReadAsync())!.Partitions.All(p => p.Members.Length == 3), TimeSpan.FromSeconds(30), "every partition replicated on the three silos");
    }
}
