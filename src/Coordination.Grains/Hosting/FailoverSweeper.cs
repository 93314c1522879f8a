using Coordination.Grains.Elections;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.Replication.Hosting;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Hosting;

/// <summary>
/// When a silo dies, the grains it hosted die with it, and nobody may call a dead client's session or a
/// lock waiting out its lock-delay again. After every death, every silo re-activates such grains from its
/// own replicas, so their leases and delays restart (in full) elsewhere. Each replica sweeps its own copy,
/// since one replica may have missed a write that a majority without it accepted; duplicate pings are
/// harmless (re-activation is idempotent). One of the mechanisms behind "no grant outlives its session":
/// see <see cref="SessionAttachments"/>.
/// </summary>
internal sealed partial class FailoverSweeper(
    ReplicaNode node,
    SiloLiveness liveness,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<FailoverSweeper> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private const int PingRetries = 8;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(FailoverSweeper), ServiceLifecycleStage.Active, Start, Stop);

    private Task Start(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => WatchAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task Stop(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        try
        {
            await _loop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        HashSet<SiloAddress>? known = null;
        try
        {
            await foreach (var snapshot in liveness.Updates.WithCancellation(cancellationToken))
            {
                var dead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToList();
                if (known is null)
                {
                    // Silos already dead when this one started were swept by the silos that saw them die.
                    known = [.. dead];
                    continue;
                }

                if (dead.Count(known.Add) > 0)
                {
                    await SweepAsync(cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>Pings every live session and every lock with a pending lock-delay found in this silo's active replicas.</summary>
    internal async Task SweepAsync(CancellationToken cancellationToken)
    {
        var pings = new List<Func<Task>>();
        foreach (var replica in node.Partitions)
        {
            if (replica.Role != ReplicaRole.Active)
            {
                continue;
            }

            foreach (var (key, slot) in replica.CopySlots())
            {
                switch (slot.Value)
                {
                    case SessionRecord s when s.IsAlive || !s.Holdings.IsEmpty:
                        pings.Add(() => grains.GetGrain<ISessionGrainInternal>(RegisterKeys.NameOf(key)).Recover());
                        break;
                    case LockRecord { Delay: not null }:
                        pings.Add(() => grains.GetGrain<ILockGrainInternal>(RegisterKeys.NameOf(key)).Recover());
                        break;
                    case ElectionRecord { Queue.Delay: not null }:
                        pings.Add(() => grains.GetGrain<IElectionGrainInternal>(RegisterKeys.NameOf(key)).Recover());
                        break;
                }
            }
        }

        LogSweep(logger, pings.Count);
        await Parallel.ForEachAsync(pings, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (ping, ct) =>
        {
            // A ping can fail while partitions are being reconfigured after the very death that caused it.
            var backoff = new Backoff(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(3200));
            while (true)
            {
                try
                {
                    await ping();
                    return;
                }
                catch (Exception ex) when (backoff.Attempts < PingRetries && !ct.IsCancellationRequested)
                {
                    LogPingFailed(logger, ex);
                    await backoff.DelayAsync(time, ct);
                }
            }
        });
    }

    [LoggerMessage(EventId = 3301, Level = LogLevel.Information, Message = "A silo died: re-activating {Count} sessions and delayed locks led by this silo")]
    private static partial void LogSweep(ILogger logger, int count);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Debug, Message = "Failover ping failed; the grain will be re-activated by its next caller")]
    private static partial void LogPingFailed(ILogger logger, Exception exception);
}
