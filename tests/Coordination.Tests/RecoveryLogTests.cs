using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>A silo that comes back recovers all its partitions at once: one line for the spell, not one per partition.</summary>
public sealed class RecoveryLogTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeLogger _logger = new();

    [Fact]
    public void A_spell_of_recoveries_is_told_in_one_line_when_the_last_one_ends()
    {
        var log = new RecoveryLog(_logger, _time);
        for (var p = 0; p < 64; p++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(20));
            log.Completed(Progress(p, elapsed: TimeSpan.FromMilliseconds(100 + p)), registers: p % 3, othersUnderway: p < 63);
        }

        var line = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Equal(
            "Recovered 64 of this silo's partitions (0,1,2,3,4,5,6,7 and 56 more) at epoch 2 from 2 sources each: 63 registers, the slowest in 0.2 s",
            line.Message);
    }

    [Fact]
    public void A_long_spell_is_told_as_it_goes_and_a_spell_that_ends_unfinished_still_tells_what_finished()
    {
        var log = new RecoveryLog(_logger, _time);
        log.Completed(Progress(3), registers: 5, othersUnderway: true);
        _time.Advance(RecoveryLog.MaxWait);
        log.Completed(Progress(9, epoch: 3), registers: 1, othersUnderway: true);
        Assert.Equal("Recovered 2 of this silo's partitions (3,9) at epoch 2-3 from 2 sources each: 6 registers, the slowest in 1.0 s", _logger.LatestRecord.Message);

        log.Completed(Progress(11), registers: 0, othersUnderway: true);
        log.Ended(othersUnderway: true);
        Assert.Equal(1, _logger.Collector.Count);
        log.Ended(othersUnderway: false);
        Assert.Equal(2, _logger.Collector.Count);
        Assert.StartsWith("Recovered 1 of this silo's partitions (11) ", _logger.LatestRecord.Message, StringComparison.Ordinal);

        log.Ended(othersUnderway: false);
        Assert.Equal(2, _logger.Collector.Count);
    }

    [Fact]
    public void What_finished_is_told_while_another_recovery_waits_for_its_sources_and_a_partition_counts_once()
    {
        var log = new RecoveryLog(_logger, _time);
        log.Completed(Progress(5, epoch: 2), registers: 1, othersUnderway: true);
        log.Completed(Progress(5, epoch: 3), registers: 2, othersUnderway: true);
        log.Waiting();
        Assert.Equal(0, _logger.Collector.Count);

        // The one left keeps waiting for a majority of its sources; nothing else completes.
        _time.Advance(RecoveryLog.MaxWait);
        log.Waiting();
        Assert.Equal("Recovered 1 of this silo's partitions (5) at epoch 2-3 from 2 sources each: 3 registers, the slowest in 1.0 s", _logger.LatestRecord.Message);
        log.Waiting();
        Assert.Equal(1, _logger.Collector.Count);
    }

    private static RecoveryProgress Progress(int partition, long epoch = 2, TimeSpan? elapsed = null) =>
        new(partition, epoch, Copied: 0, Expected: 0, SourcesDone: 2, SourcesNeeded: 2, elapsed ?? TimeSpan.FromSeconds(1));
}
