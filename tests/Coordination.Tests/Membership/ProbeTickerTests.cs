using System.Collections.Concurrent;
using Coordination.Membership.Hosting;
using Coordination.Membership.Protocol;
using Coordination.TestKit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Membership;

/// <summary>
/// The probe loop sleeps until the protocol's next deadline instead of stepping every tick interval, and a message
/// received that brings a deadline forward wakes it. Driven on a fake clock: each test moves time to the moment a
/// sleeping loop meant to wake, and waits for it to have stepped and gone back to sleep.
/// </summary>
public sealed class ProbeTickerTests
{
    private static readonly ProbeOptions Local = ProbeOptions.Local();

    [Fact]
    public async Task Two_healthy_members_step_about_twice_a_probe_period_not_every_tick()
    {
        var time = new FakeTimeProvider();
        var group = new Group(time, "m0", "m1");
        using var stop = new CancellationTokenSource();
        var runs = group.Start(stop.Token);

        var span = Local.ProbeInterval * 8;
        await group.RunUntilAsync(span);

        // A tick every 20 ms would have made 80 steps each. A period is the ping (its verdict at the period's end is
        // the next period's ping) and one step a tick later, when the ack is in (while a probe is unacked, every tick).
        foreach (var (name, ticker) in group.Tickers)
        {
            Assert.InRange(ticker.Steps, 8, 2 * 8 + 2);
            Assert.Equal(0, ticker.Stalls);
        }

        Assert.True(group.Pings("m0") >= 7, $"m0 pinged {group.Pings("m0")} times in eight probe periods");
        Assert.Equal(MemberStatus.Alive, group.Node("m0").Read((n, _) => n.View[new MemberId("m1")]!.Value.Status));
        Assert.Equal(MemberStatus.Alive, group.Node("m1").Read((n, _) => n.View[new MemberId("m0")]!.Value.Status));
        await stop.CancelAsync();
        await runs;
    }

    [Fact]
    public async Task A_ping_request_received_while_the_loop_sleeps_is_nacked_on_time_not_at_the_next_period()
    {
        var time = new FakeTimeProvider();

        // m0 alone: with nobody to probe, it would sleep a whole probe period.
        var group = new Group(time, "m0");
        using var stop = new CancellationTokenSource();
        var runs = group.Start(stop.Token);
        // Its first step (a tick after the start) finds nobody to probe and sets the next period.
        await group.RunUntilAsync(Local.TickInterval);
        var ticker = group.Tickers["m0"];
        var asleep = ticker.Sleep;
        Assert.True(asleep.Asleep);
        var now = group.Node("m0").Now;
        Assert.True(asleep.Until - now >= Local.ProbeInterval - Local.TickInterval, $"m0 sleeps only until {asleep.Until} at {now}");

        // m1 asks m0 to ping m2 (which never answers): m0 owes m1 a nack within 80 % of the probe timeout.
        var requested = now;
        group.Deliver("m0", new ProbeMessage(ProbeKind.PingReq, 41, new MemberId("m1"), MemberState.Joined, new MemberId("m2"), []));
        await Eventually.Async(() => ticker.Sleep is { Asleep: true } s && s.Until < asleep.Until, TimeSpan.FromSeconds(10), "m0's loop woken for the relay's nack, asleep again until it");

        await group.RunUntilAsync(requested + Local.ProbeTimeout);
        var nack = Assert.Single(group.Sent("m0"), o => o.Message.Kind == ProbeKind.Nack);
        Assert.Equal(new MemberId("m1"), nack.To);
        Assert.True(nack.At - requested <= (Local.ProbeTimeout * 0.8) + Local.TickInterval, $"the nack left {nack.At - requested} after the request");
        await stop.CancelAsync();
        await runs;
    }

    [Fact]
    public async Task A_pause_while_a_probe_waits_for_its_ack_is_a_stall_not_a_verdict_on_the_target()
    {
        var time = new FakeTimeProvider();

        // m1 is in m0's view but never answers: m0's probe of it stays unacked.
        var group = new Group(time, ["m0"], silent: ["m1"]);
        using var stop = new CancellationTokenSource();
        var runs = group.Start(stop.Token);
        var ticker = group.Tickers["m0"];

        // The ping leaves at m0's first step; at the probe timeout it would ask others (there are none).
        await group.RunUntilAsync(Local.TickInterval + Local.ProbeTimeout);
        Assert.Equal(1, group.Pings("m0"));

        // The process stops until half a probe timeout after the period's end, then runs again: its loop wakes that
        // late, and the missing ack says nothing about m1, as m0 was not running to receive it.
        var before = ticker.Sleep.Sleeps;
        time.Advance(Local.ProbeInterval - Local.ProbeTimeout + (Local.ProbeTimeout / 2));
        await Eventually.Async(() => ticker.Sleep is { Asleep: true } s && s.Sleeps > before, TimeSpan.FromSeconds(10), "m0's loop stepped after the pause");

        Assert.Equal(1, ticker.Stalls);
        Assert.Equal(MemberStatus.Alive, group.Node("m0").Read((n, _) => n.View[new MemberId("m1")]!.Value.Status));
        await stop.CancelAsync();
        await runs;
    }

    /// <summary>Members on one fake clock, each with its node and its loop; a message is delivered when it is sent.</summary>
    private sealed class Group
    {
        private readonly FakeTimeProvider _time;
        private readonly Dictionary<string, LockedSwimNode> _nodes = [];
        private readonly ConcurrentDictionary<string, ConcurrentQueue<(MemberId To, ProbeMessage Message, TimeSpan At)>> _sent = new();

        public Group(FakeTimeProvider time, params string[] names)
            : this(time, names, [])
        {
        }

        /// <param name="silent">Members in every view that have no node here: messages to them are lost.</param>
        public Group(FakeTimeProvider time, string[] names, string[] silent)
        {
            _time = time;
            foreach (var name in names)
            {
                _nodes[name] = new LockedSwimNode(new MemberId(name), Local, time);
                _sent[name] = new();
            }

            foreach (var name in names)
            {
                Tickers[name] = new ProbeTicker(_nodes[name], Local, time, output => Dispatch(name, output), NullLogger.Instance);
                foreach (var other in names.Concat(silent).Where(o => o != name))
                {
                    Dispatch(name, _nodes[name].Run((n, now) => n.Add(new MemberId(other), now)));
                }
            }
        }

        public Dictionary<string, ProbeTicker> Tickers { get; } = [];

        public LockedSwimNode Node(string name) => _nodes[name];

        public IEnumerable<(MemberId To, ProbeMessage Message, TimeSpan At)> Sent(string name) => _sent[name];

        public int Pings(string name) => _sent[name].Count(s => s.Message.Kind == ProbeKind.Ping);

        public Task Start(CancellationToken stop) => Task.WhenAll(Tickers.Values.Select(t => Task.Run(() => t.RunAsync(stop), CancellationToken.None)));

        public void Deliver(string to, ProbeMessage message) => Dispatch(to, _nodes[to].Run((n, now) => n.Receive(message, now)));

        /// <summary>Moves the clock from sleep to sleep until <paramref name="until"/> (time since the nodes started).</summary>
        public async Task RunUntilAsync(TimeSpan until)
        {
            while (true)
            {
                await Eventually.Async(() => Tickers.Values.All(t => t.Sleep.Asleep), TimeSpan.FromSeconds(10), "every loop asleep");
                var now = _nodes.Values.First().Now;
                var next = Tickers.Values.Min(t => t.Sleep.Until);
                if (next > until)
                {
                    _time.Advance(until - now > TimeSpan.Zero ? until - now : TimeSpan.Zero);
                    return;
                }

                var waking = Tickers.Values.Where(t => t.Sleep.Until <= next).Select(t => (Ticker: t, t.Sleep.Sleeps)).ToList();
                _time.Advance(next - now > TimeSpan.Zero ? next - now : TimeSpan.Zero);
                await Eventually.Async(() => waking.All(w => w.Ticker.Sleep is { Asleep: true } s && s.Sleeps > w.Sleeps), TimeSpan.FromSeconds(10), $"the loops due at {next} stepped and asleep again");
            }
        }

        private void Dispatch(string from, NodeOutput output)
        {
            foreach (var outgoing in output.Outbox)
            {
                _sent[from].Enqueue((outgoing.To, outgoing.Message, _nodes[from].Now));
                if (_nodes.ContainsKey(outgoing.To.Value))
                {
                    Deliver(outgoing.To.Value, outgoing.Message);
                }
            }
        }
    }
}
