using System.Text.Json;
using Coordination.Replication.Protocol;
using Coordination.Silo.SiloHost;

namespace Coordination.Tests;

/// <summary>A silo's /api/metrics counts replica rounds by their tags too, so a profile can tell what a lock operation's rounds are.</summary>
public sealed class MetricsSnapshotTests
{
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
    }

    [Theory]
    [InlineData("l/orders/17", "l")]
    [InlineData("s/abc/12", "s")]
    [InlineData("ab/x", "other")]
    [InlineData("nokind", "other")]
    [InlineData("é/x", "other")]
    public void A_register_kind_is_its_one_letter_prefix(string key, string kind) => Assert.Equal(kind, ReplicationMetrics.KindOf(key));
}
