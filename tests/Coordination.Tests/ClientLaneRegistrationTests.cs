using System.Reflection;
using Coordination.Client;
using Coordination.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Coordination.Tests;

/// <summary>
/// Which clients <c>AddCoordinationClient</c> gives a lane: an Orleans client's, unless switched off or unless its
/// Orleans connections are configured (Orleans' own <c>UseTls</c>) without <c>UseClusterTls</c>, which the lane would
/// bypass in the clear; with <c>UseClusterTls</c> it has one (over TLS).
/// </summary>
public sealed class ClientLaneRegistrationTests
{
    [Fact]
    public void An_Orleans_client_has_a_lane()
    {
        Assert.NotNull(ClientOf(Services()).Lane);
    }

    [Fact]
    public void A_client_that_switched_the_lane_off_has_none()
    {
        Assert.Null(ClientOf(Services(o => o.ClientLane = false)).Lane);
    }

    [Fact]
    public void A_client_whose_Orleans_connections_are_configured_without_cluster_TLS_has_no_lane_in_the_clear()
    {
        var services = Services();
        services.Configure<ClientConnectionOptions>(_ => { });
        Assert.Null(ClientOf(services).Lane);
    }

    [Fact]
    public void A_client_with_cluster_TLS_has_a_lane()
    {
        using var certificates = TestCertificates.Create();
        var services = Services();
        services.Configure<ClientConnectionOptions>(_ => { });
        services.AddSingleton(ClusterTls.Load(certificates.Options(certificates.Client), silo: false));
        Assert.NotNull(ClientOf(services).Lane);
    }

    private static ServiceCollection Services(Action<CoordinationClientOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSerializer();
        services.AddSingleton(DispatchProxy.Create<IGrainFactory, Unused>());
        services.AddCoordinationClient(configure);
        return services;
    }

    private static CoordinationClient ClientOf(ServiceCollection services) =>
        services.BuildServiceProvider().GetRequiredService<CoordinationClient>();

    /// <summary>A grain factory nothing here calls (the lane asks for its silo's port only on its first lock call).</summary>
    public class Unused : DispatchProxy
    {
        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            throw new InvalidOperationException($"{targetMethod?.Name} was called");
    }
}
