using System.Diagnostics;
using Coordination.Grains.Sessions;
using Coordination.Replication.Protocol;
using Coordination.Simulation.Tests.Sim;
using Coordination.TestKit.Simulation;
using Xunit.Abstractions;

namespace Coordination.Simulation.Tests;

/// <summary>
/// A session's lease across a partition that leaves two activations of its grain alive, one on each side (as
/// Orleans can while it declares the cut-off silo dead): the client keeps sending keepalives to the activation
/// on its side, the minority; the activation on the majority side times a full TTL from its first read and
/// then expires the session by compare-and-set. The register, the session state machine and the activation's
/// lease rules (<see cref="SessionLease"/>) are the real code; the client's deadline is its rule (send time of
/// the last acknowledged keepalive + TTL·(1−ρ) − margin), with the silos' clocks running ρ fast. In half
/// the schedules the cut heals while the majority side's lease runs, so its expiry must meet the keepalives
/// committed since (the compare-and-set on the keepalive count). The invariant: when an expiry is committed,
/// the client no longer believes its session alive. The control acknowledges a keepalive once one replica
/// took it, without a majority accept, and must be caught. COORD_SIM_SEED replays one seed.
/// </summary>
public sealed class SessionLeaseSimulationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan KeepAliveInterval = Ttl / 3;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMilliseconds(200);
    private const double ClockDriftBound = 0.01;
    private static readonly TimeSpan DeadlineMargin = TimeSpan.FromMilliseconds(25);

    private sealed record Outcome(int Seed, List<string> Violations, int Expiries, int KeepAlivesAcknowledged, double? LostBeforeExpiryMs, bool BelievedAliveAtCut, bool Healed, int ExpiriesRefused);

    [Fact]
    public void A_duplicate_activation_never_expires_a_session_its_client_still_believes_alive()
    {
        var watch = Stopwatch.StartNew();
        var outcomes = SimSeeds.Range(300, offset: 1).Select(seed => Run(seed, ackAfterOneAccept: false, mayHeal: true)).ToList();
        var failed = outcomes.FirstOrDefault(o => o.Violations.Count > 0);
        var gaps = outcomes.Where(o => o.LostBeforeExpiryMs is not null).Select(o => o.LostBeforeExpiryMs!.Value).Order().ToList();
        var cut = outcomes.Where(o => !o.Healed).ToList();
        var healed = outcomes.Where(o => o.Healed).ToList();
        output.WriteLine($"{outcomes.Count} schedules in {watch.Elapsed.TotalSeconds:0.0} s ({healed.Count} healed during the majority side's lease): {outcomes.Sum(o => o.Expiries)} expiries seen committed, {outcomes.Sum(o => o.ExpiriesRefused)} expiries refused because a keepalive committed in between, {outcomes.Sum(o => o.KeepAlivesAcknowledged)} keepalives acknowledged; the client gave up {(gaps.Count == 0 ? "-" : $"{gaps[gaps.Count / 2]:0}")} ms (median, min {(gaps.Count == 0 ? "-" : $"{gaps[0]:0}")}) before the expiry");
        Assert.True(failed is null, failed is null ? null : $"seed {failed.Seed} (replay with COORD_SIM_SEED={failed.Seed}):\n{string.Join("\n", failed.Violations)}");

        // Not vacuous: the client believed its session alive when the cut came; with the cut kept, the majority
        // side expired the session; with it healed, the expiry's compare-and-set met committed keepalives.
        if (outcomes.Count > 1)
        {
            Assert.True(outcomes.Count(o => o.BelievedAliveAtCut) >= outcomes.Count * 9 / 10, $"the client believed its session alive at the cut in only {outcomes.Count(o => o.BelievedAliveAtCut)} of {outcomes.Count} schedules");
            Assert.True(cut.Count(o => o.Expiries > 0) >= cut.Count * 9 / 10, $"only {cut.Count(o => o.Expiries > 0)} of {cut.Count} schedules with the cut kept expired the session");
            Assert.True(healed.Sum(o => o.ExpiriesRefused) > 0, "no expiry ever met a keepalive committed after its lease started: the compare-and-set went untested");
        }
    }

    [Fact]
    public void Control_a_keepalive_acknowledged_without_a_majority_accept_is_caught()
    {
        var outcomes = SimSeeds.Range(100, offset: 1).Select(seed => Run(seed, ackAfterOneAccept: true, mayHeal: false)).ToList();
        var caught = outcomes.Where(o => o.Violations.Count > 0).ToList();
        Assert.True(caught.Count > 0, $"{outcomes.Count} schedules acknowledged keepalives after one accept and no check noticed");
        Assert.True(caught.Count >= outcomes.Count / 2, $"caught in only {caught.Count} of {outcomes.Count} schedules");
        output.WriteLine($"caught in {caught.Count} of {outcomes.Count} schedules; first, seed {caught[0].Seed}: {caught[0].Violations[0]}");
    }

    private static Outcome Run(int seed, bool ackAfterOneAccept, bool mayHeal)
    {
        var cluster = new SimCluster(seed);
        var sim = cluster.Sim;
        var r = sim.Random;
        cluster.Net.Faults = NetworkFaults.Random(r, maxLoss: 0.05, maxExtraDelayMicros: 2000);
        var violations = new List<string>();
        var expiries = new List<long>();
        var client = new Client(sim);
        void OnExpired(Activation a)
        {
            expiries.Add(sim.Now);
            if (client.BelievesAlive(sim.Now))
            {
                violations.Add($"{a.Name} committed the expiry at {Ms(sim.Now)} ms while the client believed its session alive until {Ms(client.Deadline)} ms");
            }
        }

        var minority = new Activation(sim, "the minority-side activation", cluster.NewProposer<SessionRecord>(f => f with { AckAfterOneAccept = ackAfterOneAccept }), OnExpired);
        var minorityHost = cluster.ProposerHosts[^1];
        var partitionAt = TimeSpan.FromMilliseconds(120 + r.Next(280));
        var end = partitionAt + (4 * Ttl);
        var heal = mayHeal && r.Next(2) == 0;
        var believedAtCut = false;
        Activation? majority = null;
        sim.Schedule(partitionAt, () =>
        {
            believedAtCut = client.BelievesAlive(sim.Now);

            // A symmetric partition: the client's activation keeps one replica, the other two go with a new activation.
            var replicas = cluster.Configuration.Members.Select(m => m.Id).ToList();
            var kept = replicas[r.Next(replicas.Count)];
            foreach (var other in replicas.Where(id => id != kept))
            {
                cluster.Net.Cut(minorityHost, other);
            }

            sim.Schedule(TimeSpan.FromMilliseconds(r.Next(30)), () =>
            {
                majority = new Activation(sim, "the majority-side activation", cluster.NewProposer<SessionRecord>(), OnExpired);
                cluster.Net.Cut(cluster.ProposerHosts[^1], kept);
                _ = sim.Start(majority.ActivateAsync);
                if (heal)
                {
                    // Healed while the majority side's lease runs: the client's keepalives commit again, and the
                    // majority side's expiry must find them (its compare-and-set on the keepalive count).
                    sim.Schedule(TimeSpan.FromMilliseconds(20 + r.Next(200)), cluster.Net.HealAll);
                }
            });
        });

        var work = sim.Start(() => client.RunAsync(minority, end.Ticks));
        sim.RunUntil(work, end + TimeSpan.FromSeconds(1));
        if (work.IsFaulted)
        {
            throw new InvalidOperationException($"seed {seed}: the client failed", work.Exception);
        }

        // The client may have given up already: the activations go on to the end (the majority side's expiry).
        sim.RunFor(TimeSpan.FromTicks(Math.Max(0, end.Ticks - sim.Now)));

        var lostAt = client.LostAt;
        return new Outcome(seed, violations, expiries.Count, client.Acknowledged, lostAt is { } l && expiries.Count > 0 ? Ms(expiries[0] - l) : null, believedAtCut, heal, majority?.Refused ?? 0);
    }

    private static double Ms(long ticks) => TimeSpan.FromTicks(ticks).TotalMilliseconds;


    /// <summary>One activation of the session grain: its register proposer and its lease timer, as <c>SessionGrain</c> runs them.</summary>
    private sealed class Activation
    {
        private readonly SimKernel _sim;
        private readonly RegisterProposer<SessionRecord> _register;
        private readonly SessionLease _lease;
        private readonly Action<Activation> _onExpired;
        private int _timer;
        private bool _sawExpiry;

        public Activation(SimKernel sim, string name, RegisterProposer<SessionRecord> register, Action<Activation> onExpired)
        {
            _sim = sim;
            Name = name;
            _register = register;

            // Silo clocks run up to ρ fast against the client's: the lease ends that much sooner in real time.
            _lease = new SessionLease(new FastClock(sim, 1 + ClockDriftBound));
            _onExpired = onExpired;
            _register.Committed = record =>
            {
                if (record is not null && _lease.Observe(record) is { } ttl)
                {
                    Arm(ttl);
                }

                // An expiry is judged when this activation first sees it committed, whoever's accept it was
                // (a retried expire finds the one its failed attempt left behind, and reports "not by me").
                if (record is { Status: SessionStatus.Expired } && !_sawExpiry)
                {
                    _sawExpiry = true;
                    _onExpired(this);
                }
            };
        }

        public string Name { get; }

        /// <summary>Expiries this activation attempted that found a keepalive committed since its lease started.</summary>
        public int Refused { get; private set; }

        public Task Open() => _register.ExecuteAsync((s, _) => (s ?? SessionRecord.Open(Ttl), true));

        /// <summary>
        /// Awaited here, on the simulation's scheduler: the client's <c>WaitAsync</c> must not see the completion
        /// from a thread-pool continuation, which would run outside virtual time.
        /// </summary>
        public async Task<KeepAliveResult> KeepAlive() => await _register.ExecuteAsync((s, _) => SessionStateMachine.KeepAlive(s, "the-session", 0, 0));

        /// <summary>The first read after activation, retried until it succeeds: it starts the full-TTL lease.</summary>
        public async Task ActivateAsync()
        {
            while (true)
            {
                try
                {
                    await _register.ExecuteAsync((s, _) => (s, true));
                    return;
                }
                catch (QuorumUnavailableException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(10), _sim.Clock);
                }
            }
        }

        private void Arm(TimeSpan due)
        {
            var timer = ++_timer;
            _sim.Schedule(due / (1 + ClockDriftBound), () =>
            {
                if (timer == _timer)
                {
                    _ = _sim.Start(FireAsync);
                }
            });
        }

        private async Task FireAsync()
        {
            var remaining = _lease.Remaining;
            if (remaining > TimeSpan.Zero)
            {
                Arm(remaining);
                return;
            }

            try
            {
                if (!await _register.ExecuteAsync(_lease.Expire()) && !_sawExpiry)
                {
                    Refused++;
                }
            }
            catch (Exception)
            {
                // As the grain: no majority right now (or anything else), try again shortly.
                Arm(TimeSpan.FromMilliseconds(25));
            }
        }
    }

    /// <summary>A silo's monotonic clock running <paramref name="rate"/> times as fast as the simulation's (the client's).</summary>
    private sealed class FastClock(SimKernel sim, double rate) : TimeProvider
    {
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => (long)(sim.Now * rate);
    }

    /// <summary>The client's side: keepalives every TTL/3 (faster after a failure) and its deadline rule.</summary>
    private sealed class Client(SimKernel sim)
    {
        private static readonly long Budget = (Ttl * (1 - ClockDriftBound) - DeadlineMargin).Ticks;

        public long Deadline { get; private set; } = long.MinValue;

        public long? LostAt { get; private set; }

        public int Acknowledged { get; private set; }

        public bool BelievesAlive(long now) => LostAt is null && now < Deadline;

        public async Task RunAsync(Activation activation, long end)
        {
            while (true)
            {
                var opening = sim.Now;
                try
                {
                    await activation.Open();
                    Deadline = opening + Budget;
                    break;
                }
                catch (QuorumUnavailableException)
                {
                    await Task.Delay(RetryDelay, sim.Clock);
                }
            }

            long sent;
            var wait = KeepAliveInterval;
            while (sim.Now < end)
            {
                await Task.Delay(wait, sim.Clock);
                if (LostAt is null && sim.Now >= Deadline)
                {
                    LostAt = sim.Now;
                }

                if (LostAt is not null)
                {
                    return;
                }

                sent = sim.Now;
                try
                {
                    var remaining = TimeSpan.FromTicks(Deadline - sent);
                    await activation.KeepAlive().WaitAsync(remaining < CallTimeout ? remaining : CallTimeout, sim.Clock);
                    Deadline = Math.Max(Deadline, sent + Budget);
                    Acknowledged++;
                    wait = KeepAliveInterval;
                }
                catch (Exception ex) when (ex is SessionExpiredException or SessionNotFoundException)
                {
                    LostAt = sim.Now;
                    return;
                }
                catch (Exception ex) when (ex is QuorumUnavailableException or TimeoutException)
                {
                    wait = RetryDelay;
                }
            }
        }
    }
}
