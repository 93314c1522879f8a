using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Replicas;

/// <summary>How far one partition's recovery has come.</summary>
/// <param name="Copied">Registers received so far, over all sources (a register counts once per source).</param>
/// <param name="Expected">Registers the sources held when their copies began, summed over the sources that answered.</param>
/// <param name="SourcesDone">Sources whose whole copy has arrived; recovery needs a majority of the configuration.</param>
internal sealed record RecoveryProgress(int Partition, long Epoch, long Copied, long Expected, int SourcesDone, int SourcesNeeded, TimeSpan Elapsed);

/// <summary>
/// The copy a recovering replica takes of one partition, streamed in pages from every other member: each
/// source's pages arrive in key order, each behind its own timeout, and a source that fails mid-way is asked
/// again from the page it stopped at. The copy merges per key as pages arrive (highest accepted value, highest
/// promise), so it never holds more than one copy of the partition and no message carries more than a page.
/// The copy is complete once a majority of the configuration, not counting the newcomer, has sent everything.
/// </summary>
internal sealed class PartitionCopy(PartitionConfiguration configuration, ReplicaId self, IReplicaTransport transport, TimeProvider time, TimeSpan pageTimeout)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, RegisterSlot> _merged = new(StringComparer.Ordinal);
    private readonly Dictionary<ReplicaId, SourceState> _sources = configuration.Members.Where(m => m.Id != self).ToDictionary(m => m.Id, _ => new SourceState());
    private readonly long _started = time.GetTimestamp();
    private FloorsCopy _floors = FloorsCopy.Empty;
    private long _copied;

    public PartitionConfiguration Configuration => configuration;

    public IReadOnlyDictionary<string, RegisterSlot> Merged => _merged;

    public FloorsCopy Floors => _floors;

    public int SourcesDone
    {
        get
        {
            lock (_gate)
            {
                return _sources.Values.Count(s => s.Done);
            }
        }
    }

    public bool IsComplete => SourcesDone >= configuration.QuorumSize;

    /// <summary>The newest epoch a source answered with, when it was above this copy's (the configuration moved on).</summary>
    public long NewerEpochSeen { get; private set; }

    public RecoveryProgress Progress
    {
        get
        {
            lock (_gate)
            {
                return new(configuration.Partition, configuration.Epoch, _copied, _sources.Values.Sum(s => (long)s.Expected), _sources.Values.Count(s => s.Done), configuration.QuorumSize, time.GetElapsedTime(_started));
            }
        }
    }

    /// <summary>
    /// Asks every source that has not finished for its remaining pages, in parallel; returns when each has
    /// finished or failed for this attempt. Pages are merged on the calling scheduler, one at a time.
    /// </summary>
    public async Task CopyAsync(CancellationToken cancellationToken)
    {
        var pending = _sources.Where(s => !s.Value.Done).Select(s => CopyFromAsync(s.Key, s.Value, cancellationToken)).ToList();
        await Task.WhenAll(pending);
    }

    private async Task CopyFromAsync(ReplicaId source, SourceState state, CancellationToken cancellationToken)
    {
        while (!state.Done && !cancellationToken.IsCancellationRequested)
        {
            SnapshotReply reply;
            try
            {
                var request = new SnapshotRequest(configuration, self, state.Cursor);
                reply = await transport.SnapshotAsync(source, request, cancellationToken).WaitAsync(pageTimeout, time, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return;
            }

            if (reply.Status != ReplicaStatus.Ok || reply.Epoch != configuration.Epoch)
            {
                if (reply.Status == ReplicaStatus.EpochMismatch && reply.Epoch > configuration.Epoch)
                {
                    NewerEpochSeen = Math.Max(NewerEpochSeen, reply.Epoch);
                }

                return;
            }

            lock (_gate)
            {
                if (state.Cursor is null)
                {
                    state.Expected = reply.Total;
                }

                foreach (var (key, slot) in reply.Slots)
                {
                    _merged[key] = _merged.TryGetValue(key, out var mine) ? RegisterSlot.Merge(mine, slot) : slot;
                }

                _copied += reply.Slots.Length;
                state.Cursor = reply.Next;
                if (reply.IsLast)
                {
                    _floors = FloorsCopy.Max(_floors, reply.Floors ?? FloorsCopy.Empty);
                    state.Done = true;
                }
            }
        }
    }

    private sealed class SourceState
    {
        public string? Cursor { get; set; }

        public bool Done { get; set; }

        public int Expected { get; set; }
    }
}
