using Coordination.Replication.Configuration;
using Microsoft.Extensions.Logging;

namespace Coordination.Replication.Replicas;

/// <summary>
/// Tells of finished recoveries a spell at a time. A silo that comes back recovers every partition it holds at once
/// (64 by default), and a line per partition buried everything else on the console: one line when the last recovery
/// under way has ended (or, while a long spell goes on, at the first completion or wait for sources <see cref="MaxWait"/>
/// after the oldest one not yet told), saying how many partitions, which, what they copied and the slowest.
/// </summary>
internal sealed partial class RecoveryLog(ILogger logger, TimeProvider time)
{
    /// <summary>How long a finished recovery waits at most for the spell around it to end before it is told.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly List<(RecoveryProgress Progress, int Registers)> _untold = [];
    private long _oldestUntold;

    /// <summary>A partition finished its recovery, holding <paramref name="registers"/> now; <paramref name="othersUnderway"/>: recoveries still run on this node.</summary>
    public void Completed(RecoveryProgress progress, int registers, bool othersUnderway)
    {
        List<(RecoveryProgress Progress, int Registers)>? tell;
        lock (_gate)
        {
            if (_untold.Count == 0)
            {
                _oldestUntold = time.GetTimestamp();
            }

            _untold.Add((progress, registers));
            tell = othersUnderway && time.GetElapsedTime(_oldestUntold) < MaxWait ? null : Take();
        }

        Tell(tell);
    }

    /// <summary>A recovery waits for its sources (no majority answers yet): what finished meanwhile is told once it has waited <see cref="MaxWait"/>.</summary>
    public void Waiting()
    {
        List<(RecoveryProgress Progress, int Registers)>? tell = null;
        lock (_gate)
        {
            if (_untold.Count > 0 && time.GetElapsedTime(_oldestUntold) >= MaxWait)
            {
                tell = Take();
            }
        }

        Tell(tell);
    }

    /// <summary>A recovery ended without finishing (its configuration moved on, the silo stops): the spell may be over.</summary>
    public void Ended(bool othersUnderway)
    {
        List<(RecoveryProgress Progress, int Registers)>? tell = null;
        lock (_gate)
        {
            if (!othersUnderway && _untold.Count > 0)
            {
                tell = Take();
            }
        }

        Tell(tell);
    }

    private List<(RecoveryProgress Progress, int Registers)> Take()
    {
        var taken = _untold.OrderBy(d => d.Progress.Partition).ToList();
        _untold.Clear();
        return taken;
    }

    private void Tell(List<(RecoveryProgress Progress, int Registers)>? done)
    {
        if (done is null || done.Count == 0)
        {
            return;
        }

        // A partition that recovered twice in a spell (its configuration moved on meanwhile) counts once.
        var partitions = done.Select(d => d.Progress.Partition).Distinct().ToList();
        LogRecovered(
            logger,
            partitions.Count,
            PartitionSample.Of(partitions),
            Range(done.Select(d => d.Progress.Epoch)),
            Range(done.Select(d => (long)d.Progress.SourcesDone)),
            done.Sum(d => (long)d.Registers),
            done.Max(d => d.Progress.Elapsed).TotalSeconds);
    }

    private static string Range(IEnumerable<long> values)
    {
        var (min, max) = (values.Min(), values.Max());
        return min == max ? $"{min}" : $"{min}-{max}";
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Recovered {Count} of this silo's partitions ({Which}) at epoch {Epochs} from {Sources} sources each: {Registers} registers, the slowest in {Seconds:0.0} s")]
    private static partial void LogRecovered(ILogger logger, int count, string which, string epochs, string sources, long registers, double seconds);
}
