using Coordination.Membership.Hosting;
using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Membership;

/// <summary>A silo our probes declared dead makes Orleans read its death, and is stopped through the silo's fatal-error handler if Orleans has not stopped it after the grace period.</summary>
public sealed class DeathHandoffTests
{
    private static readonly MemberId Self = new("127.0.0.1:11113@1");
    private readonly FakeTimeProvider _time = new();
    private readonly ProbeOptions _options = new() { DeadSiloGrace = TimeSpan.FromSeconds(10) };
    private readonly Membership _membership = new();
    private readonly Fatal _fatal = new();

    [Fact]
    public async Task A_silo_declared_dead_that_orleans_did_not_stop_is_ended_by_its_fatal_error_handler_after_the_grace()
    {
        using var stopping = new CancellationTokenSource();
        var deaths = new DeathHandoff(Self, _membership, _fatal, _options, _time, NullLogger.Instance, stopping.Token);
        deaths.Handle(new MemberChange(Self, MemberStatus.Suspect, new MemberState(MemberStatus.Dead, 0, 0), DeclaredHere: false, TimeSpan.Zero));

        // The fake's refresh completes at once, so the grace period's timer is running when Handle returns.
        Assert.Equal(1, _membership.Refreshes);
        _time.Advance(_options.DeadSiloGrace - TimeSpan.FromMilliseconds(1));
        Assert.Empty(_fatal.Calls);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        await deaths.SelfStop.WaitAsync(TimeSpan.FromSeconds(10));
        var (context, exception) = Assert.Single(_fatal.Calls);
        Assert.Null(exception);
        Assert.Contains($"declared this silo ({Self.Value}) dead and Orleans did not stop it within 00:00:10", context, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silo_that_stops_within_the_grace_is_not_ended_again()
    {
        using var stopping = new CancellationTokenSource();
        var deaths = new DeathHandoff(Self, _membership, _fatal, _options, _time, NullLogger.Instance, stopping.Token);
        deaths.Handle(new MemberChange(Self, MemberStatus.Suspect, new MemberState(MemberStatus.Dead, 0, 0), DeclaredHere: false, TimeSpan.Zero));

        await stopping.CancelAsync();
        _time.Advance(_options.DeadSiloGrace * 2);
        await deaths.SelfStop.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Empty(_fatal.Calls);
    }

    private sealed class Membership : IClusterMembershipService
    {
        private int _refreshes;

        public int Refreshes => Volatile.Read(ref _refreshes);

        public ClusterMembershipSnapshot CurrentSnapshot => throw new NotSupportedException();

        public IAsyncEnumerable<ClusterMembershipSnapshot> MembershipUpdates => throw new NotSupportedException();

        public ValueTask Refresh(MembershipVersion minimumVersion = default, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _refreshes);
            return ValueTask.CompletedTask;
        }

        public Task<bool> TryKill(SiloAddress siloAddress) => Task.FromResult(false);
    }

    private sealed class Fatal : IFatalErrorHandler
    {
        private readonly List<(string Context, Exception? Exception)> _calls = [];

        public IReadOnlyList<(string Context, Exception? Exception)> Calls
        {
            get
            {
                lock (_calls)
                {
                    return [.. _calls];
                }
            }
        }

        public bool IsUnexpected(Exception exception) => true;

        public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
        {
            lock (_calls)
            {
                _calls.Add((context ?? string.Empty, exception));
            }
        }
    }
}
