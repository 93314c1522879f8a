using System.Collections.Concurrent;
using Coordination.Replication.Configuration;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Replication.Replicas;

/// <summary>
/// All replicas one silo holds: routes messages to partitions, adopts committed configurations and
/// drives the recovery of partitions this silo joined. Replica state lives here, in the silo's memory,
/// independent of any grain activation: it survives idle collection and is lost only with the silo.
/// </summary>
internal sealed partial class ReplicaNode
{
    private readonly ConcurrentDictionary<int, PartitionReplica> _partitions = new();
    private readonly ConcurrentDictionary<int, long> _recoveringEpochs = new();
    private readonly ConcurrentDictionary<int, PartitionCopy> _copies = new();
    private readonly ConcurrentDictionary<int, RecoveryProgress> _completed = new();
    private readonly IReplicaTransport _transport;
    private readonly IClusterMetadataStore _store;
    private readonly TimeProvider _time;
    private readonly ReplicaNodeOptions _options;
    private readonly ReplicationFaults _faults;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskScheduler _background;
    private readonly Random _jitter;
    private readonly RecoveryLog _recoveryLog;

    /// <param name="background">Where recovery loops run: the thread pool in a silo, the simulation's scheduler in tests.</param>
    public ReplicaNode(ReplicaId self, IReplicaTransport transport, IClusterMetadataStore store, TimeProvider time, ReplicaNodeOptions? options = null, ILogger? logger = null, TaskScheduler? background = null)
        : this(self, transport, store, time, ReplicationFaults.None, options, logger, background)
    {
    }

    /// <param name="faults">Decisions broken on purpose, for the simulations' controls only.</param>
    internal ReplicaNode(ReplicaId self, IReplicaTransport transport, IClusterMetadataStore store, TimeProvider time, ReplicationFaults faults, ReplicaNodeOptions? options = null, ILogger? logger = null, TaskScheduler? background = null)
    {
        _faults = faults;
        _background = background ?? TaskScheduler.Default;

        // Seeded from the replica's identity, so simulations stay reproducible.
        _jitter = new Random((int)System.IO.Hashing.XxHash32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(self.Value)));
        Self = self;
        _transport = transport;
        _store = store;
        _time = time;
        _options = options ?? new ReplicaNodeOptions();
        _logger = logger ?? NullLogger.Instance;
        _recoveryLog = new RecoveryLog(_logger, time);
    }

    public ReplicaId Self { get; }

    /// <summary>Raised when a partition finishes recovery on this node.</summary>
    public event Action<PartitionConfiguration>? Recovered;

    /// <summary>True when no partition on this node is still recovering.</summary>
    public bool IsCaughtUp => _recoveringEpochs.IsEmpty;

    /// <summary>The recoveries under way on this node and how far each has come.</summary>
    public IReadOnlyList<RecoveryProgress> Recoveries => [.. _copies.Values.Select(c => c.Progress).OrderBy(p => p.Partition)];

    /// <summary>The last finished recovery of each partition on this node: what it copied and how long it took.</summary>
    public IReadOnlyList<RecoveryProgress> CompletedRecoveries => [.. _completed.Values.OrderBy(p => p.Partition)];

    public IEnumerable<PartitionReplica> Partitions => _partitions.Values;

    public PartitionReplica Partition(int partition) =>
        _partitions.TryGetValue(partition, out var replica) ? replica : _partitions.GetOrAdd(partition, static (p, node) => new PartitionReplica(node.Self, p, node._faults), this);

    public ReplicaReply Handle(ReplicaRequest request) => Partition(request.Partition).Handle(request);

    public SnapshotReply Snapshot(SnapshotRequest request)
    {
        var reply = Partition(request.Configuration.Partition).Snapshot(request, out var adopted);
        if (adopted == AdoptOutcome.StartedRecovering)
        {
            StartRecovery(request.Configuration);
        }

        return reply;
    }

    /// <summary>Adopts a committed configuration (from the configuration master, a proposer's hint or a peer).</summary>
    public void Adopt(PartitionConfiguration configuration)
    {
        var outcome = Partition(configuration.Partition).Adopt(configuration);
        if (outcome == AdoptOutcome.StartedRecovering)
        {
            StartRecovery(configuration);
        }
        else if (outcome == AdoptOutcome.Adopted && _faults.VoteWithoutRecovery && configuration.IsRecovering(Self))
        {
            // The broken variant believes it is caught up at once, and says so.
            _ = Task.Factory.StartNew(() => ReportRecoveredAsync(configuration, _stopping.Token), CancellationToken.None, TaskCreationOptions.DenyChildAttach, _background).Unwrap();
        }
    }

    /// <summary>Stops recovery loops (the silo is shutting down).</summary>
    public void Stop() => _stopping.Cancel();

    private void StartRecovery(PartitionConfiguration configuration)
    {
        _recoveringEpochs[configuration.Partition] = configuration.Epoch;
        _ = Task.Factory.StartNew(() => RecoverAsync(configuration), CancellationToken.None, TaskCreationOptions.DenyChildAttach, _background).Unwrap();
    }

    /// <summary>
    /// Copies the partition from a majority of its configuration, not counting this node. Each source
    /// adopts the new configuration before answering, so the old epoch is fenced at a majority of the old
    /// members before the copy is taken: nothing committed under it can be missed, and nothing more can commit.
    /// </summary>
    private async Task RecoverAsync(PartitionConfiguration configuration)
    {
        try
        {
            await RecoverLoopAsync(configuration);
        }
        finally
        {
            _recoveringEpochs.TryRemove(new KeyValuePair<int, long>(configuration.Partition, configuration.Epoch));
            _recoveryLog.Ended(othersUnderway: !_recoveringEpochs.IsEmpty);
        }
    }

    private async Task RecoverLoopAsync(PartitionConfiguration configuration)
    {
        var backoff = new Backoff(_options.RecoveryBackoff, _options.MaxRecoveryBackoff);
        var token = _stopping.Token;
        var copy = new PartitionCopy(configuration, Self, _transport, _time, _options.SnapshotTimeout);
        _copies[configuration.Partition] = copy;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var replica = Partition(configuration.Partition);
                if (replica.Configuration.Epoch != configuration.Epoch || replica.Role != ReplicaRole.Recovering)
                {
                    return;
                }

                await copy.CopyAsync(token);
                if (copy.IsComplete)
                {
                    if (replica.CompleteRecovery(configuration, copy.Merged, copy.Floors))
                    {
                        _recoveringEpochs.TryRemove(new KeyValuePair<int, long>(configuration.Partition, configuration.Epoch));
                        var progress = copy.Progress;
                        ReplicationMetrics.RecoveryDuration.Record(progress.Elapsed.TotalSeconds);
                        _completed[configuration.Partition] = progress;
                        _recoveryLog.Completed(progress, replica.Count, othersUnderway: !_recoveringEpochs.IsEmpty);
                        Recovered?.Invoke(configuration);
                        await ReportRecoveredAsync(configuration, token);
                    }

                    return;
                }

                if (copy.NewerEpochSeen > configuration.Epoch)
                {
                    var metadata = await _store.ReadAsync(token);
                    if (metadata is not null && metadata.Partitions[configuration.Partition].Epoch > configuration.Epoch)
                    {
                        Adopt(metadata.Partitions[configuration.Partition]);
                        return;
                    }
                }

                LogRecoveryWaiting(_logger, configuration.Partition, configuration.Epoch, copy.SourcesDone, configuration.QuorumSize);
                _recoveryLog.Waiting();
                try
                {
                    await backoff.DelayAsync(_time, token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            _copies.TryRemove(new KeyValuePair<int, PartitionCopy>(configuration.Partition, copy));
        }
    }

    /// <summary>
    /// Records in the metadata that this replica finished recovering, retrying with jitter until the write
    /// lands or no longer applies: the planner will not change a partition that lists a member as recovering.
    /// </summary>
    private async Task ReportRecoveredAsync(PartitionConfiguration configuration, CancellationToken token)
    {
        var me = configuration.Find(Self)!;

        // Many partitions finish at once after a restart and race for the same document: spread out.
        var backoff = new Backoff(_options.RecoveryBackoff, _options.MaxRecoveryBackoff, jitter: BackoffJitter.Added, random: _jitter);
        while (!token.IsCancellationRequested)
        {
            try
            {
                var current = await _store.ReadAsync(token);
                var next = current is null ? null : ConfigurationPlanner.MarkRecovered(current, configuration.Partition, Self, me.Since);
                if (next is null || await _store.TryWriteAsync(current!.Version, next, token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogReportFailed(_logger, ex, configuration.Partition);
            }

            try
            {
                await backoff.DelayAsync(_time, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Reports again any recovery the metadata still lists although this replica finished it (a report that was lost).</summary>
    public async Task ReportRecoveriesAsync(ClusterMetadata metadata, CancellationToken token)
    {
        foreach (var config in metadata.Partitions.Where(p => p.IsRecovering(Self)))
        {
            var replica = Partition(config.Partition);
            if (replica.Role == ReplicaRole.Active && replica.Configuration.Epoch == config.Epoch && !_recoveringEpochs.ContainsKey(config.Partition))
            {
                await ReportRecoveredAsync(config, token);
            }
        }
    }

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Partition {Partition} epoch {Epoch} still recovering: {Good} of {Needed} sources answered")]
    private static partial void LogRecoveryWaiting(ILogger logger, int partition, long epoch, int good, int needed);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Could not record the recovery of partition {Partition} in the metadata store")]
    private static partial void LogReportFailed(ILogger logger, Exception exception, int partition);
}
