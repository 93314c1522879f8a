using System.Diagnostics.Metrics;
using System.Text.Json;
using Coordination.Grains.Locks;
using Coordination.Replication.Protocol;
using Coordination.Silo.SiloHost;

namespace Coordination.Tests;

/// <summary>/api/metrics' summaries: percentiles of the window, read from the sorted copy; replica rounds counted and timed by their tags too.</summary>
public sealed class MetricsSnapshotTests
{
    [Fact]
    public void A_histogram_is_summarised_by_its_percentiles_and_a_counter_by_its_total()
    {
        using var snapshot = new MetricsSnapshot();
        using var meter = new Meter(LockMetrics.MeterName);
        var histogram = meter.CreateHistogram<double>($"test.duration.{Guid.NewGuid():N}");
        var counter = meter.CreateCounter<long>($"test.count.{Guid.NewGuid():N}");

        // Out of order, so a summary that did not sort would be caught.
        foreach (var v in Enumerable.Range(1, 100).Select(i => (i * 37 % 100) + 1))
        {
            histogram.Record(v);
            counter.Add(2);
        }

        var report = JsonSerializer.SerializeToElement(snapshot.Report());
        var h = report.GetProperty(histogram.Name);
        Assert.Equal(100, h.GetProperty("count").GetInt64());
        Assert.Equal(50.5, h.GetProperty("mean").GetDouble());
        Assert.Equal(51, h.GetProperty("p50").GetDouble());
        Assert.Equal(91, h.GetProperty("p90").GetDouble());
        Assert.Equal(100, h.GetProperty("p99").GetDouble());
        Assert.Equal(100, h.GetProperty("max").GetDouble());
        Assert.Equal(200, report.GetProperty(counter.Name).GetProperty("total").GetDouble());

        // Without percentiles (a benchmark's read around a timed part): count and mean, no window sorted.
        var cheap = JsonSerializer.SerializeToElement(snapshot.Report(percentiles: false)).GetProperty(histogram.Name);
        Assert.Equal(100, cheap.GetProperty("count").GetInt64());
        Assert.Equal(50.5, cheap.GetProperty("mean").GetDouble());
        Assert.False(cheap.TryGetProperty("p99", out _), cheap.ToString());
    }

    [Fact]
    public void A_window_that_wrapped_is_summarised_over_its_latest_samples()
    {
        using var snapshot = new MetricsSnapshot();
        using var meter = new Meter(LockMetrics.MeterName);
        var histogram = meter.CreateHistogram<double>($"test.duration.{Guid.NewGuid():N}");
        for (var v = 1; v <= 20_100; v++)
        {
            histogram.Record(v);
        }

        // The window holds the last 20,000: 101 to 20,100.
        var h = JsonSerializer.SerializeToElement(snapshot.Report()).GetProperty(histogram.Name);
        Assert.Equal(20_100, h.GetProperty("count").GetInt64());
        Assert.Equal(10_101, h.GetProperty("p50").GetDouble());
        Assert.Equal(19_901, h.GetProperty("p99").GetDouble());
        Assert.Equal(20_100, h.GetProperty("max").GetDouble());
    }

    [Fact]
    public void Rounds_are_counted_by_outcome_phase_and_register_kind()
    {
        using var snapshot = new MetricsSnapshot();

        // "q/" is no kind of the service's, so no other test's rounds land in these series.
        ReplicationMetrics.RecordRound(0.2, ok: true, new ReplicaRequest(0, 1, "q/a", ReplicaOperation.Prepare, new Ballot(1, 1), null, Ballot.Zero));
        ReplicationMetrics.RecordRound(0.2, ok: true, new ReplicaRequest(0, 1, "q/b/c", ReplicaOperation.Prepare, new Ballot(1, 1), null, Ballot.Zero));
        ReplicationMetrics.RecordRound(0.3, ok: false, new ReplicaRequest(0, 1, "q/a", ReplicaOperation.Accept, new Ballot(1, 1), "v", new Ballot(2, 1)));
        ReplicationMetrics.RecordRound(0.3, ok: true, new ReplicaRequest(0, 1, "q/a", ReplicaOperation.Accept, new Ballot(2, 1), null, new Ballot(3, 1)));

        var report = JsonSerializer.SerializeToElement(snapshot.Report());
        double Total(string tags)
        {
            Assert.True(report.TryGetProperty($"coordination.register.rounds[{tags}]", out var series), $"no series for [{tags}] in {report}");
            return series.GetProperty("total").GetDouble();
        }

        Assert.Equal(2, Total("outcome=majority,phase=prepare,register=q"));
        Assert.Equal(1, Total("outcome=failed,phase=accept,register=q"));
        Assert.Equal(1, Total("outcome=majority,phase=delete,register=q"));
        Assert.False(report.TryGetProperty("coordination.register.rounds[outcome=majority,phase=accept,register=q]", out _), "no successful accept of a value was recorded");

        // The durations too, by the same tags, as percentiles.
        Assert.True(report.TryGetProperty("coordination.register.round.duration[outcome=majority,phase=prepare,register=q]", out var prepares), $"no duration series for the prepares in {report}");
        Assert.Equal(2, prepares.GetProperty("count").GetInt64());
        Assert.Equal(0.2, prepares.GetProperty("p99").GetDouble());
        Assert.Equal(0.3, report.GetProperty("coordination.register.round.duration[outcome=failed,phase=accept,register=q]").GetProperty("max").GetDouble());
    }

    [Theory]
    [InlineData("l/orders/17", "l")]
    [InlineData("s/abc/12", "s")]
    [InlineData("ab/x", "other")]
    [InlineData("nokind", "other")]
    [InlineData("é/x", "other")]
    public void A_register_kind_is_its_one_letter_prefix(string key, string kind) => Assert.Equal(kind, ReplicationMetrics.KindOf(key));
}
