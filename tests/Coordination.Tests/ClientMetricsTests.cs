using System.Diagnostics.Metrics;
using Coordination.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Coordination.Tests;

/// <summary>The client's meter: each acquire measured once by its outcome, retries as attempts sent again, lost sessions by reason.</summary>
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
    public async Task Each_acquire_is_measured_once_from_its_call_with_its_outcome()
    {
        using var waits = new MetricCollector<double>(_metrics.Meter, "coordination.client.acquire.duration");
        var time = _client.Time;

        Assert.NotNull(await _metrics.MeasureAsync(ClientMetrics.Tags.Lock, time, async () =>
        {
            await Task.Yield();
            time.Advance(TimeSpan.FromSeconds(3));
            return "grant";
        }, CancellationToken.None));
        Assert.Null(await _metrics.MeasureAsync<string>(ClientMetrics.Tags.Semaphore, time, () => Task.FromResult<string?>(null), CancellationToken.None));
        using (var cancel = new CancellationTokenSource())
        {
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _metrics.MeasureAsync<string>(ClientMetrics.Tags.Lock, time, () => Task.FromCanceled<string?>(cancel.Token), cancel.Token));
        }

        // Cancelled by something other than the caller's token (a call timeout), or refused: failed.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _metrics.MeasureAsync<string>(ClientMetrics.Tags.Election, time, () => throw new TaskCanceledException("a call timed out"), CancellationToken.None));
        await Assert.ThrowsAsync<ClusterUnavailableException>(() => _metrics.MeasureAsync<string>(ClientMetrics.Tags.ReaderWriterLock, time, () => throw new ClusterUnavailableException("acquire of 'test'", TimeSpan.FromSeconds(1), new TimeoutException()), CancellationToken.None));

        var measured = waits.GetMeasurementSnapshot();
        Assert.Equal(
            [("lock", "granted"), ("semaphore", "not_acquired"), ("lock", "cancelled"), ("election", "failed"), ("reader_writer_lock", "failed")],
            measured.Select(m => (m.Tags["coordination.primitive"], m.Tags["coordination.outcome"])));
        Assert.Equal(3000, measured[0].Value);
    }

    [Fact]
    public async Task Attempts_sent_again_after_a_transient_failure_or_a_lost_gateway_count_as_retries_and_a_grant_as_active()
    {
        using var retries = new MetricCollector<long>(_metrics.Meter, "coordination.client.acquire.retries");
        var calls = 0;
        var granted = RunAsync(() => ++calls switch
        {
            1 or 2 => Task.FromException<Reply>(new QuorumUnavailableException("test", 1, 2, "one replica answered")),
            3 => GatewayLost(),
            4 => Task.FromResult(new Reply(ParkedReply.Queued)),
            _ => Task.FromResult(new Reply(ParkedReply.Granted)),
        });
        await _client.AdvanceUntilAsync(() => granted.IsCompleted, "a grant after two failures without a majority, a lost gateway and a queued reply");

        Assert.NotNull(await granted);
        Assert.Equal(5, calls);
        Assert.Equal(3, retries.GetMeasurementSnapshot().Sum(m => m.Value)); // the re-ask after "queued" is no retry
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

    /// <summary>A call parked at a silo whose gateway the client then loses: abandoned, no reply.</summary>
    private Task<Reply> GatewayLost()
    {
        _client.Changes.Signal();
        return new TaskCompletionSource<Reply>().Task;
    }

    private Task<CoordinationLockHandle?> RunAsync(Func<Task<Reply>> send)
    {
        var request = new ParkedRequest<Reply, CoordinationLockHandle>(
            "acquire of 'test'",
            ClientMetrics.Tags.Lock,
            _ => send(),
            reply => reply.Status,
            _ => new CoordinationLockHandle(_client.Session.CreateLock("test"), null!, _client.Session, Guid.NewGuid(), 1),
            _ => Task.FromResult(CancelOutcome.NotFound));
        return ParkedCallLoop.RunAsync(_client.Session, request, AcquireMode.Wait, Deadline.FromNow(TimeSpan.FromSeconds(60), _client.Time), Options, _client.Time, CancellationToken.None);
    }

    private sealed record Reply(ParkedReply Status);
}
