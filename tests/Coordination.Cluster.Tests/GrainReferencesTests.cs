using Coordination.Cluster.Tests.Infrastructure;
using Coordination.Grains.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Cluster.Tests;

/// <summary>
/// <see cref="GrainReferences.Reference{T}"/> skips Orleans' per-call type resolution: its references must be the ones
/// <c>GetGrain</c> gives, for every string-keyed interface, the first (which resolves) and the later ones (from the
/// cache), on a client and on a silo, and calls through them must reach the grain.
/// </summary>
public sealed class GrainReferencesTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public void A_reference_is_the_one_GetGrain_gives_for_every_string_keyed_interface()
    {
        var cluster = fixture.Cluster.Cluster;
        var silo = cluster.GetSiloServiceProvider(cluster.GetActiveSilos().First().SiloAddress).GetRequiredService<IGrainFactory>();
        foreach (var grains in new[] { fixture.Cluster.Grains, silo })
        {
            for (var round = 0; round < 2; round++)
            {
                Same<ILockGrain>(grains, $"orders/{round}");
                Same<ILockGrainInternal>(grains, $"orders/{round}");
                Same<ISemaphoreGrain>(grains, $"pool/{round}");
                Same<IReaderWriterLockGrain>(grains, $"table/{round}");
                Same<IElectionGrain>(grains, $"leader/{round}");
                Same<IElectionGrainInternal>(grains, $"leader/{round}");
                Same<IValueGrain>(grains, $"config/{round}");
                Same<ILatchGrain>(grains, $"start/{round}");
                Same<IAtomicLongGrain>(grains, $"count/{round}");
                Same<ISessionGrain>(grains, $"session-{round}");
                Same<ISessionGrainInternal>(grains, $"session-{round}");
            }
        }
    }

    [Fact]
    public async Task A_call_through_a_cached_reference_reaches_its_grain_and_a_blank_key_is_refused()
    {
        var name = $"references/{Guid.NewGuid():N}";
        await using var session = await TestSession.OpenAsync(fixture.Cluster.Grains);
        await fixture.Cluster.Grains.AcquireAsync(name, session.Id, Guid.NewGuid(), TimeSpan.FromSeconds(30));
        _ = fixture.Cluster.Grains.Reference<ILockGrain>("warm");
        var info = await fixture.Cluster.Grains.Reference<ILockGrain>(name).GetInfo();
        Assert.Equal(name, info.Name);
        Assert.NotNull(info.Holder);
        Assert.Throws<ArgumentException>(() => fixture.Cluster.Grains.Reference<ILockGrain>(" "));
    }

    private static void Same<T>(IGrainFactory grains, string key)
        where T : IGrainWithStringKey
    {
        var expected = (GrainReference)(object)grains.GetGrain<T>(key);
        var reference = Assert.IsAssignableFrom<GrainReference>(grains.Reference<T>(key));
        Assert.Equal(expected.GrainId, reference.GrainId);
        Assert.Equal(expected.InterfaceType, reference.InterfaceType);
    }
}
