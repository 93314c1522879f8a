using System.Diagnostics.Metrics;
using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.Membership.Hosting;

/// <summary>
/// Runs this silo's <see cref="SwimNode"/>: drives it on a timer (reporting its own stalls to it), feeds it
/// the messages the probe service receives and the silos Orleans' membership lists, sends what it says,
/// and hands every death it declares (with enough independent votes, from the majority side) to Orleans
/// through <see cref="IClusterMembershipService.TryKill"/>, so directory and placement react at once.
/// </summary>
internal sealed partial class ProbeHost : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private static readonly Meter Meter = new("Coordination.Membership");
    private static readonly Counter<long> Suspicions = Meter.CreateCounter<long>("coordination.probes.suspicions", description: "Suspicions raised by this silo's view");
    private static readonly Counter<long> Deaths = Meter.CreateCounter<long>("coordination.probes.deaths_declared", description: "Deaths this silo declared and handed to Orleans");

    private readonly Lock _gate = new();
    private readonly IClusterMembershipService _membership;
    private readonly OrleansProbeTransport _transport;
    private readonly TimeProvider _time;
    private readonly ProbeOptions _options;
    private readonly ILogger _logger;
    private readonly SwimNode _node;
    private readonly long _origin;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loops = Task.CompletedTask;
    private long _suspicionsRaised;
    private long _deathsDeclared;
    private long _stalls;

    public ProbeHost(IClusterMembershipService membership, ILocalSiloDetails local, OrleansProbeTransport transport, TimeProvider time, IOptions<ProbeOptions> options, ILogger<ProbeHost> logger)
    {
        _membership = membership;
        _transport = transport;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _origin = time.GetTimestamp();
        Self = new MemberId(local.SiloAddress.ToParsableString());
        _node = new SwimNode(Self, _options, new Random(HashCode.Combine(Self.Value, Environment.TickCount64)), Now);
    }

    public MemberId Self { get; }

    public bool Enabled => _options.Enabled;

    private TimeSpan Now => _time.GetElapsedTime(_origin);

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (_options.Enabled)
        {
            lifecycle.Subscribe(nameof(ProbeHost), ServiceLifecycleStage.Active, StartAsync, StopAsync);
        }
    }

    /// <summary>A message from the probe service.</summary>
    public void Receive(ProbeMessage message)
    {
        if (!_options.Enabled)
        {
            return;
        }

        IReadOnlyList<Outgoing> outbox;
        IReadOnlyList<MemberChange> changes;
        lock (_gate)
        {
            _node.Receive(message, Now);
            (outbox, changes) = (_node.DrainOutbox(), _node.DrainChanges());
        }

        Dispatch(outbox, changes);
    }

    /// <summary>The read API: this silo's view, its suspicions with their deadlines, probe round trips and local health.</summary>
    public ProbeViewSnapshot Snapshot()
    {
        lock (_gate)
        {
            var now = Now;
            var suspicions = _node.Suspicions(now).ToDictionary(s => s.Member);
            var orleans = _membership.CurrentSnapshot;
            var members = _node.View.Members.Select(m =>
            {
                suspicions.TryGetValue(m.Key, out var s);
                var suspected = m.Value.Status == MemberStatus.Suspect && s.Member == m.Key;
                return new ProbeMemberSnapshot(
                    m.Key.Value,
                    m.Value.Status.ToString(),
                    m.Value.Incarnation,
                    m.Value.Heartbeat,
                    suspected ? (now - s.Since).TotalMilliseconds : null,
                    suspected ? (s.Deadline - now).TotalMilliseconds : null,
                    suspected ? s.Confirmations : 0,
                    _node.RoundTrips.TryGetValue(m.Key, out var rtt) ? rtt.TotalMilliseconds : null,
                    orleans.GetSiloStatus(SiloAddress.FromParsableString(m.Key.Value)).ToString(),
                    m.Key == Self);
            }).ToList();
            return new ProbeViewSnapshot(Self.Value, _options.Enabled, _node.LocalHealth, _node.MessagesSent, _node.MessagesReceived, Interlocked.Read(ref _suspicionsRaised), Interlocked.Read(ref _deathsDeclared), Interlocked.Read(ref _stalls), members);
        }
    }

    /// <summary>This silo's view of one silo, for replica placement and liveness judgements.</summary>
    public MemberStatus? StatusOf(string silo)
    {
        lock (_gate)
        {
            return _node.View[new MemberId(silo)]?.Status;
        }
    }

    /// <summary>Stops the loops (idempotent: the container may dispose this twice, as itself and as a lifecycle participant).</summary>
    public void Dispose() => _stopping.Cancel();

    private Task StartAsync(CancellationToken cancellationToken)
    {
        Reconcile(_membership.CurrentSnapshot);
        _loops = Task.WhenAll(Task.Run(TickLoopAsync, CancellationToken.None), Task.Run(MembershipLoopAsync, CancellationToken.None));
        LogStarted(_logger, Self.Value, _options.ProbeInterval, _options.ProbeTimeout, _options.DeathVotes);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<Outgoing> outbox;
        lock (_gate)
        {
            _node.Leave(Now);
            outbox = _node.DrainOutbox();
            _node.DrainChanges();
        }

        foreach (var outgoing in outbox)
        {
            _transport.Send(outgoing);
        }

        await _stopping.CancelAsync();
        await _loops.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task TickLoopAsync()
    {
        var tick = _options.TickInterval;
        var due = Now + tick;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var wait = due - Now;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, _stopping.Token);
                }

                IReadOnlyList<Outgoing> outbox;
                IReadOnlyList<MemberChange> changes;
                lock (_gate)
                {
                    var now = Now;
                    var late = now - due;
                    if (late > _options.ProbeTimeout)
                    {
                        // This process did not run for a while (GC, starved thread pool, SIGSTOP): our own judgement is suspect.
                        Interlocked.Increment(ref _stalls);
                        _node.ReportStall(late);
                        LogStall(_logger, late);
                    }

                    _node.Tick(now);
                    (outbox, changes) = (_node.DrainOutbox(), _node.DrainChanges());
                    due = (late > tick ? now : due) + tick;
                }

                Dispatch(outbox, changes);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogLoopFailed(_logger, ex);
            }
        }
    }

    private async Task MembershipLoopAsync()
    {
        try
        {
            await foreach (var snapshot in _membership.MembershipUpdates.WithCancellation(_stopping.Token))
            {
                Reconcile(snapshot);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Silos Orleans lists as active join the probe group; silos it holds dead or leaving leave it for good.</summary>
    private void Reconcile(ClusterMembershipSnapshot snapshot)
    {
        IReadOnlyList<MemberChange> changes;
        lock (_gate)
        {
            var now = Now;
            foreach (var member in snapshot.Members.Values)
            {
                var id = new MemberId(member.SiloAddress.ToParsableString());
                switch (member.Status)
                {
                    case SiloStatus.Active:
                        _node.Add(id, now);
                        break;
                    case SiloStatus.Dead:
                        _node.Remove(id, MemberStatus.Dead, now);
                        break;
                    case SiloStatus.ShuttingDown or SiloStatus.Stopping:
                        _node.Remove(id, MemberStatus.Left, now);
                        break;
                }
            }

            changes = _node.DrainChanges();
        }

        Dispatch([], changes);
    }

    private void Dispatch(IReadOnlyList<Outgoing> outbox, IReadOnlyList<MemberChange> changes)
    {
        foreach (var outgoing in outbox)
        {
            _transport.Send(outgoing);
        }

        foreach (var change in changes)
        {
            switch (change.Now.Status)
            {
                case MemberStatus.Suspect when change.Member != Self:
                    Interlocked.Increment(ref _suspicionsRaised);
                    Suspicions.Add(1);
                    LogSuspected(_logger, change.Member.Value, change.Now.Incarnation);
                    break;
                case MemberStatus.Alive when change.Was == MemberStatus.Suspect:
                    LogRefuted(_logger, change.Member.Value, change.Now.Incarnation);
                    break;
                case MemberStatus.Dead when change.Member == Self:
                    LogSelfDead(_logger, Self.Value);
                    _ = StopAsDeadAsync();
                    break;
                case MemberStatus.Dead when change.DeclaredHere:
                    Interlocked.Increment(ref _deathsDeclared);
                    Deaths.Add(1);
                    _ = KillAsync(change.Member);
                    break;
            }
        }
    }

    /// <summary>
    /// The group declared this silo dead (it was paused or cut off past its suspicion): it must never come
    /// back as the same member. Orleans stops a silo that reads its own death in the table, so make it read
    /// now; if it still runs after the grace period, stop the process the way Orleans would.
    /// </summary>
    private async Task StopAsDeadAsync()
    {
        try
        {
            await _membership.Refresh();
            await Task.Delay(_options.DeadSiloGrace, _time, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception ex)
        {
            LogKillFailed(_logger, ex, Self.Value);
        }

        if (!_stopping.IsCancellationRequested)
        {
            Environment.FailFast($"Coordination probes: this silo ({Self.Value}) was declared dead by the group and Orleans did not stop it within {_options.DeadSiloGrace}.");
        }
    }

    private async Task KillAsync(MemberId member)
    {
        var silo = SiloAddress.FromParsableString(member.Value);
        try
        {
            if (_membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Dead)
            {
                return;
            }

            LogDeclared(_logger, member.Value);
            await _membership.TryKill(silo);
        }
        catch (Exception ex)
        {
            LogKillFailed(_logger, ex, member.Value);
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Probes started for {Self}: interval {Interval}, timeout {Timeout}, {Votes} votes to declare a death")]
    private static partial void LogStarted(ILogger logger, string self, TimeSpan interval, TimeSpan timeout, int votes);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Suspecting {Silo} (incarnation {Incarnation})")]
    private static partial void LogSuspected(ILogger logger, string silo, long incarnation);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "{Silo} refuted its suspicion (incarnation {Incarnation})")]
    private static partial void LogRefuted(ILogger logger, string silo, long incarnation);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Probes declared {Silo} dead (independent votes, majority side): handing it to Orleans")]
    private static partial void LogDeclared(ILogger logger, string silo);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "The probe group declared this silo ({Self}) dead; Orleans will stop it")]
    private static partial void LogSelfDead(ILogger logger, string self);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Handing the death of {Silo} to Orleans failed")]
    private static partial void LogKillFailed(ILogger logger, Exception exception, string silo);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "Probe timer ran {Late} late: local health lowered, the probe in flight dropped unjudged")]
    private static partial void LogStall(ILogger logger, TimeSpan late);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Error, Message = "Probe loop step failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}

/// <summary>One silo's probe view, as served at <c>/api/membership</c>.</summary>
public sealed record ProbeViewSnapshot(
    string Self,
    bool Enabled,
    int LocalHealth,
    long MessagesSent,
    long MessagesReceived,
    long SuspicionsRaised,
    long DeathsDeclared,
    long Stalls,
    IReadOnlyList<ProbeMemberSnapshot> Members);

/// <summary>What one silo's view says about a member.</summary>
public sealed record ProbeMemberSnapshot(
    string Member,
    string Status,
    long Incarnation,
    long Heartbeat,
    double? SuspectedForMs,
    double? SuspicionDeadlineInMs,
    int Confirmations,
    double? RoundTripMs,
    string OrleansStatus,
    bool IsSelf);
