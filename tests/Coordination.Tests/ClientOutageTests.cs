using Coordination.Client;

namespace Coordination.Tests;

/// <summary>
/// An outage is told as one: the waits that are not parked requests (an upgrade to writer, a latch's wait, a watch)
/// end at their deadline in a typed error when the cluster did not answer, never in "not upgraded" or "not yet", and
/// ask again with a growing pause meanwhile. On fake time against scripted failures.
/// </summary>
public sealed class ClientOutageTests
{
    private static readonly CoordinationClientOptions Options = new() { MaxPark = TimeSpan.FromSeconds(5), CallGrace = TimeSpan.FromSeconds(2) };
    private readonly ClientOnFakeTime _client = new(Options);

    [Fact]
    public async Task An_upgrade_that_meets_no_majority_until_its_deadline_is_QuorumUnavailableException_not_false()
    {
        var grain = new ScriptedReaderWriterLock(_ => throw new QuorumUnavailableException("rw", 1, 2, "one replica answered"));
        var upgrade = Handle(grain).TryUpgradeToWriteLockAsync(TimeSpan.FromSeconds(10)).AsTask();

        await _client.AdvanceUntilAsync(() => upgrade.IsCompleted, "the upgrade to end at its deadline");
        await Assert.ThrowsAsync<QuorumUnavailableException>(() => upgrade);
        Assert.True(grain.Upgrades <= 16, $"{grain.Upgrades} upgrade attempts in 10 s of outage: asked again without backoff");
        Assert.Equal(1, grain.Withdrawals);
    }

    [Fact]
    public async Task An_upgrade_asked_only_if_possible_that_gets_no_reply_is_ClusterUnavailableException_after_the_call_grace()
    {
        var grain = new ScriptedReaderWriterLock(_ => throw new SiloUnavailableException("the silo is gone"));
        var upgrade = Handle(grain).TryUpgradeToWriteLockAsync(TimeSpan.Zero).AsTask();

        await _client.AdvanceUntilAsync(() => upgrade.IsCompleted, "the upgrade to give up after the call grace");
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => upgrade);
        Assert.IsType<SiloUnavailableException>(error.InnerException);
    }

    [Fact]
    public async Task An_upgrade_whose_readers_stay_is_false_at_its_deadline()
    {
        // Each call parks on the silo as long as it may, then says "still queued".
        var grain = new ScriptedReaderWriterLock(async request =>
        {
            await Task.Delay(request.MaxWait, _client.Time);
            return new AcquireResult(AcquireStatus.Queued, 0, 1);
        });
        var upgrade = Handle(grain).TryUpgradeToWriteLockAsync(TimeSpan.FromSeconds(3)).AsTask();

        await _client.AdvanceUntilAsync(() => upgrade.IsCompleted, "the upgrade to end at its deadline");
        Assert.False(await upgrade);
    }

    [Fact]
    public async Task A_parked_read_that_fails_until_its_deadline_is_the_outages_typed_error_and_one_answered_is_null()
    {
        var calls = 0;
        var failing = ParkedReads.CallAsync<string>("wait for latch 'test'", _ =>
        {
            calls++;
            throw new SiloUnavailableException("the silo is gone");
        }, _client.Changes, Deadline.FromNow(TimeSpan.FromSeconds(10), _client.Time), Options, _client.Time, CancellationToken.None);
        await _client.AdvanceUntilAsync(() => failing.IsCompleted, "the read to end at its deadline");
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => failing);
        Assert.Contains("wait for latch 'test'", error.Message, StringComparison.Ordinal);
        Assert.True(calls <= 16, $"{calls} calls in 10 s of outage: asked again without backoff");

        var passed = Deadline.FromNow(TimeSpan.FromSeconds(1), _client.Time);
        _client.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await ParkedReads.CallAsync<string>("wait for latch 'test'", _ => throw new InvalidOperationException("not called"), _client.Changes, passed, Options, _client.Time, CancellationToken.None));
    }

    private CoordinationUpgradeableLockHandle Handle(ScriptedReaderWriterLock grain) =>
        new(_client.Session, "rw", Guid.NewGuid(), 7, grain, new LeaseAcquire(_ => ValueTask.FromResult(_client.Session), Options, _client.Time));

    /// <summary>A reader-writer lock grain whose upgrade answers as scripted; a withdrawal succeeds.</summary>
    private sealed class ScriptedReaderWriterLock(Func<UpgradeRequest, Task<AcquireResult>> upgrade) : IReaderWriterLockGrain
    {
        public int Upgrades { get; private set; }

        public int Withdrawals { get; private set; }

        public Task<AcquireResult> Upgrade(UpgradeRequest request)
        {
            Upgrades++;
            return upgrade(request);
        }

        public Task<bool> WithdrawUpgrade(string sessionId, Guid requestId)
        {
            Withdrawals++;
            return Task.FromResult(true);
        }

        public Task<AcquireResult> Acquire(ReaderWriterAcquireRequest request) => throw new NotSupportedException();

        public Task<CancelOutcome> Cancel(string sessionId, Guid requestId, long sequence = 0) => throw new NotSupportedException();

        public Task<ReleaseOutcome> Release(ReleaseRequest request) => throw new NotSupportedException();

        public Task<SharedLockInfo> GetInfo() => throw new NotSupportedException();

        public Task<SharedRevokeResult> Revoke(string reason) => throw new NotSupportedException();
    }
}
