using Coordination.Grains.Elections;
using Coordination.Grains.Leases;
using Coordination.Grains.Locks;
using Coordination.Grains.Sessions;
using Coordination.Grains.Values;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Hosting;

/// <summary>
/// When a silo dies, the grains it hosted die with it, and nobody may call a dead client's session, a
/// lock waiting out its lock-delay or an ephemeral value waiting out its vanished session's TTL again. After every death, every silo re-activates such grains from its
/// own replicas, so their leases and delays restart (in full) elsewhere; and every <see cref="Interval"/>
/// it re-activates grains left with work half done (an ended session still ending, finished requests still
/// to let go), whose activation went away before they finished. The leftovers of a lock, election, semaphore,
/// reader-writer lock or value (finished requests, retiring covers) block nobody and are pinged once its copy has
/// shown them, unchanged, at two periodic sweeps in a row: a live activation lets go of them by itself within
/// seconds (a lock per entity retires its name <c>IdleRetention</c> after its release), and a ping would only cost
/// it a write (measured: a third of an accept round per fresh name); a ping's re-read also forgets what the sessions
/// let go already, which a lock held for long, with nothing else committing, would otherwise keep. Each replica
/// sweeps its own copy, since one replica may have missed a write that a majority without it accepted; duplicate
/// pings are harmless (re-activation is idempotent). A ping that keeps failing is given up (its grain is
/// re-activated by its next caller or the next sweep); the watch itself never stops. One of the mechanisms behind
/// "no grant outlives its session": see <see cref="SessionAttachments{TQueue}"/>.
/// </summary>
internal sealed partial class FailoverSweeper : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How often leftovers are swept, besides every silo death.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private const int PingRetries = 8;
    private readonly ReplicaNode _node;
    private readonly SiloLiveness _liveness;
    private readonly Func<Holding?, string, Task> _ping;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loops = Task.CompletedTask;

    /// <summary>The holdings whose copies showed leftovers at the last periodic sweep, with the ballot of the copy then.</summary>
    private Dictionary<string, Ballot> _leftoversSeen = new(StringComparer.Ordinal);

    public FailoverSweeper(ReplicaNode node, SiloLiveness liveness, IGrainFactory grains, TimeProvider time, ILogger<FailoverSweeper> logger)
        : this(node, liveness, (holding, name) => PingGrain(grains, holding, name), time, logger)
    {
    }

    /// <param name="ping">Re-activates one grain: a lock, election or value (by its holding), or a session (null, by its id).</param>
    internal FailoverSweeper(ReplicaNode node, SiloLiveness liveness, Func<Holding?, string, Task> ping, TimeProvider time, ILogger logger)
    {
        _node = node;
        _liveness = liveness;
        _ping = ping;
        _time = time;
        _logger = logger;
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(FailoverSweeper), ServiceLifecycleStage.Active, Start, Stop);

    internal Task Start(CancellationToken cancellationToken)
    {
        _loops = Task.WhenAll(
            Task.Run(() => WatchAsync(_stopping.Token), CancellationToken.None),
            Task.Run(() => LeftoversAsync(_stopping.Token), CancellationToken.None));
        return Task.CompletedTask;
    }

    internal async Task Stop(CancellationToken cancellationToken)
    {
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

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        HashSet<SiloAddress>? known = null;
        try
        {
            await foreach (var snapshot in _liveness.Updates.WithCancellation(cancellationToken))
            {
                var dead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToList();
                if (dead.Any(d => d.ToReplicaId() == _liveness.Self))
                {
                    // This silo is the one that died (it was paused or cut off): its process is ending, and its
                    // sessions and holdings are the live silos' to re-activate.
                    return;
                }

                if (known is null)
                {
                    // Silos already dead when this one started were swept by the silos that saw them die.
                    known = [.. dead];
                    continue;
                }

                if (dead.Count(known.Add) > 0)
                {
                    await SweepSafelyAsync(afterDeath: true, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task LeftoversAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Interval, _time, cancellationToken);
                await SweepSafelyAsync(afterDeath: false, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task SweepSafelyAsync(bool afterDeath, CancellationToken cancellationToken)
    {
        try
        {
            await SweepAsync(afterDeath, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogSweepFailed(_logger, ex);
        }
    }

    /// <summary>
    /// Pings what this silo's active replicas show needs an activation: after a death, every live session, every
    /// holding waiting out a delay and every holding with leftovers; always, every session still ending; on a periodic
    /// sweep, every holding whose copy showed leftovers, with the same accepted ballot, at the periodic sweep before.
    /// </summary>
    internal async Task<int> SweepAsync(bool afterDeath, CancellationToken cancellationToken)
    {
        var pings = new List<(Holding? Holding, string Name)>();
        var seen = new Dictionary<string, Ballot>(StringComparer.Ordinal);
        foreach (var replica in _node.Partitions.Where(r => r.Role == ReplicaRole.Active))
        {
            foreach (var (key, slot) in replica.CopySlots())
            {
                switch (slot.Value)
                {
                    case SessionRecord s when (afterDeath && s.IsAlive) || !s.IsAlive:
                        pings.Add((null, RegisterKeys.NameOf(key)));
                        break;
                    case LockRecord l when afterDeath && l.Delay is not null:
                    case ElectionRecord e when afterDeath && e.Queue.Delay is not null:
                    case SharedLockRecord m when afterDeath && m.Delay is not null:
                    case ValueRecord v when afterDeath && v.Binding.Delay is not null:
                        Ping(key);
                        break;
                    case LockRecord l when SessionCovers.HasLeftovers(l):
                    case ElectionRecord e when SessionCovers.HasLeftovers(e.Queue):
                    case SharedLockRecord m when SessionCovers.HasLeftovers(m):
                    case ValueRecord v when !v.Binding.Finished.IsEmpty:
                        // After a death every activation may be gone: all at once. Otherwise only what stayed as it was for a whole interval.
                        seen[key] = slot.Accepted;
                        if (afterDeath || (_leftoversSeen.TryGetValue(key, out var before) && before == slot.Accepted))
                        {
                            Ping(key);
                        }

                        break;
                }
            }
        }

        if (!afterDeath)
        {
            _leftoversSeen = seen;
        }

        void Ping(string key)
        {
            if (RegisterKeys.HoldingOf(key) is { } holding)
            {
                pings.Add((holding, holding.Name));
            }
        }

        if (afterDeath || pings.Count > 0)
        {
            LockMetrics.Failovers.Add(pings.Count);
            LogSweep(_logger, afterDeath ? "A silo died" : "Leftovers", pings.Count);
        }

        await Parallel.ForEachAsync(pings, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (ping, ct) =>
        {
            // A ping can fail while partitions are being reconfigured after the very death that caused it.
            var backoff = new Backoff(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(3200));
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await _ping(ping.Holding, ping.Name);
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    if (backoff.Attempts >= PingRetries)
                    {
                        LogPingGivenUp(_logger, ex, ping.Holding?.ToString() ?? $"session {SessionIds.Tag(ping.Name)}");
                        return;
                    }

                    LogPingFailed(_logger, ex);
                    await backoff.DelayAsync(_time, ct);
                }
            }
        });
        return pings.Count;
    }

    private static Task PingGrain(IGrainFactory grains, Holding? holding, string name) => holding?.Kind switch
    {
        HoldingKind.Lock => grains.Reference<ILockGrainInternal>(name).Recover(),
        HoldingKind.Election => grains.Reference<IElectionGrainInternal>(name).Recover(),
        HoldingKind.Semaphore => grains.Reference<ISemaphoreGrainInternal>(name).Recover(),
        HoldingKind.ReaderWriterLock => grains.Reference<IReaderWriterLockGrainInternal>(name).Recover(),
        HoldingKind.Value => grains.Reference<IValueGrainInternal>(name).Recover(),
        _ => grains.Reference<ISessionGrainInternal>(name).Recover(),
    };

    [LoggerMessage(EventId = 3301, Level = LogLevel.Information, Message = "{Why}: re-activating {Count} sessions, locks, elections and values from this silo's replicas")]
    private static partial void LogSweep(ILogger logger, string why, int count);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Debug, Message = "Failover ping failed; retrying")]
    private static partial void LogPingFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3303, Level = LogLevel.Warning, Message = "Failover ping of {Grain} kept failing; left to its next caller or the next sweep")]
    private static partial void LogPingGivenUp(ILogger logger, Exception exception, string grain);

    [LoggerMessage(EventId = 3304, Level = LogLevel.Warning, Message = "A failover sweep failed; the watch goes on")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
