using Coordination.Replication.Configuration;
using Microsoft.Extensions.Logging;

namespace Coordination.Replication.Hosting;

/// <summary>The graceful stop's drain: a silo leaves only once its partitions can do without it.</summary>
internal sealed partial class ReplicationLifecycle
{
    /// <summary>
    /// Before this silo stops (still serving): wait until every partition it is a member of keeps a majority
    /// of live, caught-up replicas without it, then announce itself as draining in the metadata (a
    /// compare-and-swap, so two silos stopping at once cannot both count on each other). A rolling restart
    /// that stops the next silo while the previous one is still being replaced waits here. Waiting stops
    /// early only when nothing can fix a partition (no live member copying, no spare silo).
    /// </summary>
    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        var timeout = options.Value.DrainTimeout;
        var started = time.GetTimestamp();
        var self = liveness.Self;
        bool IsGone(ReplicaId id) => liveness.IsDead(id) || liveness.IsLeaving(id);

        // Each pass (every 200 ms, and again after losing the race for the metadata to another silo stopping at the
        // same time) says only what changed: the count it waits for, and how it stops, once.
        var toldWaiting = -1;
        var toldStop = false;
        while (true)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                // Not a graceful stop (the silo is being killed): nothing to wait for.
                return;
            }

            ClusterMetadata current;
            try
            {
                current = await store.ReadAsync(CancellationToken.None) ?? directory.Current;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRefreshFailed(logger, ex);
                current = directory.Current;
            }

            var shortOf = ConfigurationPlanner.ShortWithout(current, self, IsGone);
            var live = liveness.Population(current).Live;
            var hopeless = shortOf.Where(p => !ConfigurationPlanner.CanRecover(current, p, self, IsGone, live)).ToList();
            var outOfTime = time.GetElapsedTime(started) >= timeout || cancellationToken.IsCancellationRequested;
            if (shortOf.Count == 0 || hopeless.Count > 0 || outOfTime)
            {
                if (hopeless.Count > 0 && !toldStop)
                {
                    // The usual case when the whole cluster stops: nothing to warn an operator about.
                    LogStoppingWithCluster(logger, shortOf.Count, PartitionSample.Of(shortOf.Select(p => p.Partition)));
                    toldStop = true;
                }
                else if (shortOf.Count > 0 && !toldStop)
                {
                    LogDrainGaveUp(logger, time.GetElapsedTime(started), shortOf.Count, PartitionSample.Of(shortOf.Select(p => p.Partition)));
                    toldStop = true;
                }

                try
                {
                    if (current.IsDraining(self) || await store.TryWriteAsync(current.Version, ConfigurationPlanner.WithDraining(current, self), CancellationToken.None))
                    {
                        return;
                    }

                    continue;
                }
                catch (Exception ex)
                {
                    LogRefreshFailed(logger, ex);
                    return;
                }
            }

            if (shortOf.Count != toldWaiting)
            {
                LogDraining(logger, shortOf.Count);
                toldWaiting = shortOf.Count;
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Cancelled: announce and stop on the next pass.
            }
        }
    }

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "Stopping: waiting until {Count} partitions keep a caught-up majority without this silo")]
    private static partial void LogDraining(ILogger logger, int count);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "Stopping after {Waited}: {Count} partitions ({Partitions}) are left without a caught-up majority; the silos that could copy them were too slow")]
    private static partial void LogDrainGaveUp(ILogger logger, TimeSpan waited, int count, string partitions);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Information, Message = "Stopping: {Count} partitions ({Partitions}) keep no caught-up majority without this silo, and no live silo can copy them (the others are down or stopping too, as when the whole cluster stops)")]
    private static partial void LogStoppingWithCluster(ILogger logger, int count, string partitions);
}
