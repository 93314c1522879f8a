using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.Membership.Hosting;

/// <summary>
/// Runs this silo's <see cref="SwimNode"/> (held in a <see cref="LockedSwimNode"/>) through the silo's
/// lifecycle: <see cref="ProbeTicker"/> drives it on a timer and reports the host's stalls to it,
/// <see cref="OrleansMembershipFeed"/> adds the silos Orleans' membership lists, the probe service hands it
/// the messages it receives (<see cref="Receive"/>); what it says is sent through the
/// <see cref="OrleansProbeTransport"/>, and its changes go to <see cref="DeathHandoff"/>, which hands every
/// death it declares to Orleans through <see cref="IClusterMembershipService.TryKill"/>.
/// </summary>
internal sealed partial class ProbeHost : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly IClusterMembershipService _membership;
    private readonly OrleansProbeTransport _transport;
    private readonly ProbeOptions _options;
    private readonly ILogger _logger;
    private readonly LockedSwimNode _node;
    private readonly ProbeTicker _ticker;
    private readonly OrleansMembershipFeed _feed;
    private readonly DeathHandoff _deaths;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loops = Task.CompletedTask;

    public ProbeHost(IClusterMembershipService membership, ILocalSiloDetails local, OrleansProbeTransport transport, IFatalErrorHandler fatal, TimeProvider time, IOptions<ProbeOptions> options, ILogger<ProbeHost> logger)
    {
        _membership = membership;
        _transport = transport;
        _options = options.Value;
        _logger = logger;
        Self = new MemberId(local.SiloAddress.ToParsableString());
        _node = new LockedSwimNode(Self, _options, time);
        _ticker = new ProbeTicker(_node, _options, time, Dispatch, logger);
        _feed = new OrleansMembershipFeed(membership, _node, Dispatch);
        _deaths = new DeathHandoff(Self, membership, fatal, _options, time, logger, _stopping.Token);
    }

    public MemberId Self { get; }

    public bool Enabled => _options.Enabled;

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

        Dispatch(_node.Run((n, now) => n.Receive(message, now)));
    }

    /// <summary>The read API: this silo's view, its suspicions with their deadlines, probe round trips and local health.</summary>
    public ProbeViewSnapshot Snapshot() => _node.Read((n, now) =>
        ProbeViewSnapshot.Of(n, now, _membership.CurrentSnapshot, _options.Enabled, _deaths.SuspicionsRaised, _deaths.DeathsDeclared, _ticker.Stalls));

    /// <summary>This silo's view of one silo, for replica placement and liveness judgements.</summary>
    public MemberStatus? StatusOf(string silo) => _node.Read((n, _) => n.View[new MemberId(silo)]?.Status);

    /// <summary>Stops the loops (idempotent: the container may dispose this twice, as itself and as a lifecycle participant).</summary>
    public void Dispose() => _stopping.Cancel();

    private Task StartAsync(CancellationToken cancellationToken)
    {
        _feed.Reconcile(_membership.CurrentSnapshot);
        _loops = Task.WhenAll(Task.Run(() => _ticker.RunAsync(_stopping.Token), CancellationToken.None), Task.Run(() => _feed.RunAsync(_stopping.Token), CancellationToken.None));
        LogStarted(_logger, Self.Value, _options.ProbeInterval, _options.ProbeTimeout, _options.DeathVotes);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        // Tell the others, but act on no change any more: this silo is on its way out.
        var leaving = _node.Run((n, _) => n.Leave());
        foreach (var outgoing in leaving.Outbox)
        {
            _transport.Send(outgoing);
        }

        await _stopping.CancelAsync();
        await _loops.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void Dispatch(NodeOutput output)
    {
        foreach (var outgoing in output.Outbox)
        {
            _transport.Send(outgoing);
        }

        foreach (var change in output.Changes)
        {
            _deaths.Handle(change);
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Probes started for {Self}: interval {Interval}, timeout {Timeout}, {Votes} votes to declare a death")]
    private static partial void LogStarted(ILogger logger, string self, TimeSpan interval, TimeSpan timeout, int votes);
}
