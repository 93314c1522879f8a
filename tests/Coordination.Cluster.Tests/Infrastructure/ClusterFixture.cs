namespace Coordination.Cluster.Tests.Infrastructure;

/// <summary>One 4-silo cluster shared by a test class whose tests do not kill silos.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private CoordinationCluster? _cluster;

    public CoordinationCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster has not started.");

    public async Task InitializeAsync() => _cluster = await CoordinationCluster.StartAsync();

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
