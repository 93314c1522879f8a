using Coordination.Replication.Configuration;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.Replication.Hosting;

/// <summary>
/// Brings replication up with the silo: loads (or creates) the cluster metadata before the silo joins,
/// then keeps the local copy fresh and, on the planning silo, assigns partitions and replaces replicas
/// of dead or leaving silos one member at a time.
/// </summary>
internal sealed partial class ReplicationLifecycle(
    IClusterMetadataStore store,
    MetadataDirectory directory,
    ReplicaNode node,
    TombstoneCollector tombstones,
    SiloLiveness liveness,
    TimeProvider time,
    IOptions<ReplicationOptions> options,
    ILogger<ReplicationLifecycle> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _planSignal = new(0);
    private Task _loops = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(ReplicationLifecycle), ServiceLifecycleStage.ApplicationServices, LoadAsync, _ => Task.CompletedTask);
        lifecycle.Subscribe(nameof(ReplicationLifecycle), ServiceLifecycleStage.Active, StartLoopsAsync, StopAsync);
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var metadata = await store.ReadAsync(cancellationToken);
        if (metadata is null)
        {
            var created = ClusterMetadata.Create(o.PartitionCount, o.ReplicationFactor,
                new AuditEntry(time.GetUtcNow(), liveness.Self.Value, "create", "first silo of a new cluster", 1, []));
            if (await store.TryWriteAsync(0, created, cancellationToken))
            {
                LogCreated(logger, o.PartitionCount, o.ReplicationFactor);
            }

            metadata = await store.ReadAsync(cancellationToken) ?? throw new InvalidOperationException("The metadata store lost the cluster metadata it just accepted.");
        }

        if (metadata.PartitionCount != o.PartitionCount || metadata.ReplicationFactor != o.ReplicationFactor)
        {
            throw new OptionsValidationException(ReplicationOptions.Section, typeof(ReplicationOptions),
                [$"This cluster was created with PartitionCount {metadata.PartitionCount} and ReplicationFactor {metadata.ReplicationFactor}, but {ReplicationOptions.Section} says {o.PartitionCount} and {o.ReplicationFactor}. They cannot change for an existing cluster."]);
        }

        if (store is InMemoryClusterMetadataStore observable)
        {
            observable.Written += directory.Publish;
        }

        directory.Publish(metadata);
    }

    private Task StartLoopsAsync(CancellationToken cancellationToken)
    {
        _loops = Task.WhenAll(
            Task.Run(() => RefreshLoopAsync(_stopping.Token), CancellationToken.None),
            Task.Run(() => PlanLoopAsync(_stopping.Token), CancellationToken.None),
            Task.Run(() => WatchMembershipAsync(_stopping.Token), CancellationToken.None),
            Task.Run(() => CollectTombstonesAsync(_stopping.Token), CancellationToken.None));
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await DrainAsync(cancellationToken);
        if (store is InMemoryClusterMetadataStore observable)
        {
            observable.Written -= directory.Publish;
        }

        node.Stop();
        await _stopping.CancelAsync();
        try
        {
            await _loops.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    private async Task RefreshLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.MetadataRefreshInterval, time, cancellationToken);
                await directory.ReloadAsync(cancellationToken);
                await node.ReportRecoveriesAsync(directory.Current, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogRefreshFailed(logger, ex);
            }
        }
    }

    /// <summary>Drops, now and then, the tombstones their writers could not drop (see <see cref="TombstoneCollector"/>).</summary>
    private async Task CollectTombstonesAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.TombstoneCollectionInterval, time, cancellationToken);
                await tombstones.CollectAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogCollectFailed(logger, ex);
            }
        }
    }

    private async Task WatchMembershipAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var _ in liveness.Updates.WithCancellation(cancellationToken))
            {
                _planSignal.Release();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task PlanLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _planSignal.WaitAsync(options.Value.PlannerInterval, cancellationToken);
                if (liveness.IsPlanner())
                {
                    await PlanOnceAsync(cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogPlanFailed(logger, ex);
            }
        }
    }

    private async Task PlanOnceAsync(CancellationToken cancellationToken)
    {
        var current = await store.ReadAsync(cancellationToken);
        if (current is null)
        {
            return;
        }

        directory.Publish(current);
        var next = ConfigurationPlanner.Plan(current, liveness.Population(current));
        if (next is not null && await store.TryWriteAsync(current.Version, next, cancellationToken))
        {
            // One line per plan at information (a start assigns every partition at once); each partition's new
            // configuration at debug.
            var moved = next.Partitions.Where(p => p.Epoch != current.Partitions[p.Partition].Epoch).ToList();
            LogPlanned(logger, moved.Count, next.Partitions.Length, PartitionSample.Of(moved.Select(p => p.Partition)));
            foreach (var changed in moved)
            {
                LogReconfigured(logger, changed.Partition, changed.Epoch, changed.ToString());
            }

            directory.Publish(next);
        }
    }

    [LoggerMessage(EventId = 2109, Level = LogLevel.Information, Message = "Planned new replica configurations: {Moved} of {Partitions} partitions moved ({Which})")]
    private static partial void LogPlanned(ILogger logger, int moved, int partitions, string which);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Created cluster metadata: {Partitions} partitions, replication factor {Factor}")]
    private static partial void LogCreated(ILogger logger, int partitions, int factor);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "Partition {Partition} moved to epoch {Epoch}: {Configuration}")]
    private static partial void LogReconfigured(ILogger logger, int partition, long epoch, string configuration);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Refreshing the cluster metadata failed")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "Collecting tombstones failed; the next pass tries again")]
    private static partial void LogCollectFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "Planning replica configurations failed")]
    private static partial void LogPlanFailed(ILogger logger, Exception exception);
}
