using System.Diagnostics.Metrics;
using Coordination.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Coordination.Tests;

/// <summary>The client's meter against scripted replies on fake time: each wait measured once by its outcome, retries, lost sessions by reason.</summary>
public sealed class ClientMetricsTests : IDisposable
{
    private static readonly CoordinationClientOptions Options = new() { MaxPark = TimeSpan.FromSeconds(5), CallGrace = TimeSpan.FromSeconds(2) };
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ClientMetrics _metrics;
    private readonly ClientOnFakeTime _client;

    public ClientMetricsTests()
    {
        _metrics = ClientMetrics.For(_services.GetRequiredService<IMeterFactory>());
        _client = new ClientOnFakeTime(Options, _metrics);
    }

    [Fact]
    public async Task Each_wait_is_measured_once_with_its_outcome_and_each_transient_failure_counts_a_retry()
    {
        using var waits = new MetricCollector<double>(_metrics.Meter, "coordination.client.acquire.duration");
        using var retries = new MetricCollector<long>(_metrics.Meter, "coordination.client.acquire.retries");

        var failures = 2;
        var granted = RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(30), () => failures-- > 0
            ? Task.FromException<Reply>(new QuorumUnavailableException("test", 1, 2, "one replica answered"))
            : Task.FromResult(new Reply(ParkedReply.Granted)));
        await _client.AdvanceUntilAsync(() => granted.IsCompleted, "a grant after two failures without a majority");
        Assert.NotNull(await granted);
        Assert.Equal(1, _metrics.GrantsActive);

        Assert.Null(await RunAsync(AcquireMode.IfAvailable, TimeSpan.Zero, () => Task.FromResult(new Reply(ParkedReply.NotAvailable))));

        using (var cancel = new CancellationTokenSource())
        {
            var waiting = RunAsync(AcquireMode.Wait, Timeout.InfiniteTimeSpan, () => new TaskCompletionSource<Reply>().Task, cancel.Token);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }

        await Assert.ThrowsAsync<QueueFullException>(() => RunAsync(AcquireMode.Wait, TimeSpan.FromSeconds(10), () => Task.FromException<Reply>(new QueueFullException("test", "64 waiters"))));

        var measured = waits.GetMeasurementSnapshot();
        Assert.Equal(["granted", "not_acquired", "cancelled", "failed"], measured.Select(m => m.Tags["coordination.outcome"]));
        Assert.All(measured, m => Assert.Equal("lock", m.Tags["coordination.primitive"]));
        Assert.True(measured[0].Value >= 2 * Options.RetryDelay.TotalMilliseconds, $"the granted wait took {measured[0].Value} ms of fake time: it must include the two pauses before asking again");
        Assert.Equal(2, retries.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, _metrics.GrantsActive);
    }

    [Fact]
    public void A_lost_session_is_counted_once_by_whether_its_deadline_passed_or_the_cluster_expired_it()
    {
        using var lost = new MetricCollector<long>(_metrics.Meter, "coordination.client.sessions.lost");
        _client.Session.MarkLost(CoordinationSession.DeadlinePassed);
        _client.Session.MarkLost("the session expired");
        new ClientOnFakeTime(Options, _metrics).Session.MarkLost("the session expired");

        Assert.Equal(["deadline", "expired"], lost.GetMeasurementSnapshot().Select(m => m.Tags["coordination.reason"]));
    }

    public void Dispose() => _services.Dispose();

    private Task<CoordinationLockHandle?> RunAsync(AcquireMode mode, TimeSpan timeout, Func<Task<Reply>> send, CancellationToken cancellationToken = default)
    {
        var request = new ParkedRequest<Reply, CoordinationLockHandle>(
            "acquire of 'test'",
            ClientMetrics.Tags.Lock,
            _ => send(),
            reply => reply.Status,
            _ => new CoordinationLockHandle(_client.Session.CreateLock("test"), null!, _client.Session, Guid.NewGuid(), 1),
            _ => Task.FromResult(CancelOutcome.NotFound));
        return ParkedCallLoop.RunAsync(_client.Session, request, mode, Deadline.FromNow(timeout, _client.Time), Options, _client.Time, cancellationToken);
    }

    private sealed record Reply(ParkedReply Status);
}
