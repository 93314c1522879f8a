using Coordination.Membership.Protocol;
using Coordination.TestKit.Simulation;

namespace Coordination.TestKit.Membership;

/// <summary>
/// A seeded discrete-event simulation of a group running the real <see cref="SwimNode"/> code: the probe
/// network on the shared <see cref="SimKernel"/> (its clock, event queue and seeded random), losing and
/// delaying messages and partitionable, and members that crash (stop for good) or pause (a SIGSTOP: timers
/// and deliveries wait until they resume, then they see the stall). Everything that happens depends only on
/// the seed.
/// </summary>
internal sealed class SwimSimulation
{
    private readonly Dictionary<MemberId, Member> _members = [];
    private readonly SimKernel _kernel;

    public SwimSimulation(int size, int seed, ProbeOptions options, double loss = 0, TimeSpan? minDelay = null, TimeSpan? maxDelay = null)
        : this(size, seed, options, loss, minDelay, maxDelay, SwimFaults.Breakage.None)
    {
    }

    internal SwimSimulation(int size, int seed, ProbeOptions options, double loss, TimeSpan? minDelay, TimeSpan? maxDelay, SwimFaults.Breakage broken)
    {
        _kernel = new SimKernel(seed);
        Options = options;
        Loss = loss;
        MinDelay = minDelay ?? TimeSpan.FromMilliseconds(0.2);
        MaxDelay = maxDelay ?? TimeSpan.FromMilliseconds(2);
        var ids = Enumerable.Range(0, size).Select(i => new MemberId($"m{i:D3}")).ToList();
        foreach (var id in ids)
        {
            var node = new SwimNode(id, options, new Random(_kernel.Random.Next()), TimeSpan.Zero) { Faults = new SwimFaults(broken) };
            foreach (var other in ids)
            {
                node.Add(other, TimeSpan.Zero);
            }

            node.DrainChanges();
            _members[id] = new Member(id, node);
        }

        foreach (var member in _members.Values)
        {
            // Random phases, as real silos start at different moments.
            _kernel.Schedule(TimeSpan.FromTicks(_kernel.Random.NextInt64(options.ProbeInterval.Ticks)), () => Tick(member));
        }
    }

    public int Seed => _kernel.Seed;

    public ProbeOptions Options { get; }

    public double Loss { get; set; }

    public TimeSpan MinDelay { get; }

    public TimeSpan MaxDelay { get; }

    /// <summary>Virtual time since the start.</summary>
    public TimeSpan Now => _kernel.Elapsed;

    public long Delivered { get; private set; }

    public IReadOnlyCollection<Member> Members => _members.Values;

    public Member this[MemberId id] => _members[id];

    /// <summary>Pairs that cannot talk (both directions), while a partition is on.</summary>
    public Func<MemberId, MemberId, bool>? Blocked { get; set; }

    public MemberId Id(int index) => new($"m{index:D3}");

    public void Crash(MemberId id) => _members[id].CrashedAt ??= Now;

    /// <summary>Pauses a member from now for <paramref name="duration"/> (its ticks and deliveries wait).</summary>
    public void Pause(MemberId id, TimeSpan duration) => _members[id].PausedUntil = Now + duration;

    /// <summary>Runs everything due up to the virtual moment <paramref name="until"/> (since the start).</summary>
    public void RunUntil(TimeSpan until) => _kernel.RunFor(until - Now);

    public void RunFor(TimeSpan duration) => _kernel.RunFor(duration);

    /// <summary>Members alive (not crashed) and not declared out of the group by their own view.</summary>
    public IEnumerable<Member> Live => _members.Values.Where(m => m.CrashedAt is null && !m.Node.IsOut);

    private void Tick(Member member)
    {
        if (member.CrashedAt is not null)
        {
            return;
        }

        if (member.PausedUntil > Now)
        {
            // A stopped process: the timer fires when it resumes, late by the pause.
            var resume = member.PausedUntil;
            var scheduled = Now;
            _kernel.Schedule(resume - scheduled, () =>
            {
                member.Node.ReportStall(resume - scheduled);
                member.Due = member.Node.NextDue(Now);
                Tick(member);
            });
            return;
        }

        // The host's loop sleeps until the node's next deadline: a tick before it must find nothing to do.
        var quiet = Now < member.Due;
        var (sent, changes) = (member.Node.MessagesSent, member.Changes.Count);
        member.Node.Tick(Now);
        Flush(member);
        if (quiet && (member.Node.MessagesSent != sent || member.Changes.Count != changes))
        {
            throw new InvalidOperationException($"{member} at {Now}: a tick before the node's next deadline ({member.Due}) sent {member.Node.MessagesSent - sent} messages and made {member.Changes.Count - changes} changes (seed {Seed})");
        }

        member.Due = member.Node.NextDue(Now);
        _kernel.Schedule(Options.TickInterval, () => Tick(member));
    }

    private void Flush(Member member)
    {
        foreach (var change in member.Node.DrainChanges())
        {
            member.Changes.Add(change);
        }

        foreach (var outgoing in member.Node.DrainOutbox())
        {
            member.Sent++;
            if (_kernel.Random.NextDouble() < Loss || (Blocked?.Invoke(member.Id, outgoing.To) ?? false))
            {
                continue;
            }

            var delay = MinDelay + TimeSpan.FromTicks((long)(_kernel.Random.NextDouble() * (MaxDelay - MinDelay).Ticks));
            var to = _members[outgoing.To];
            _kernel.Schedule(delay, () => Deliver(to, outgoing.Message));
        }
    }

    private void Deliver(Member to, ProbeMessage message)
    {
        if (to.CrashedAt is not null)
        {
            return;
        }

        if (to.PausedUntil > Now)
        {
            // Buffered by the OS until the process runs again.
            _kernel.Schedule(to.PausedUntil - Now, () => Deliver(to, message));
            return;
        }

        Delivered++;
        to.Node.Receive(message, Now);
        Flush(to);
        to.Due = to.Node.NextDue(Now);
    }

    public sealed class Member(MemberId id, SwimNode node)
    {
        public MemberId Id { get; } = id;

        public SwimNode Node { get; } = node;

        public TimeSpan? CrashedAt { get; set; }

        public TimeSpan PausedUntil { get; set; }

        public long Sent { get; set; }

        /// <summary>When the node said, after the last call into it, it next has something to do (<see cref="SwimNode.NextDue"/>).</summary>
        public TimeSpan Due { get; set; }

        public List<MemberChange> Changes { get; } = [];

        /// <summary>When this member first held <paramref name="other"/> dead, if it did.</summary>
        public TimeSpan? DeadAt(MemberId other) =>
            Changes.FirstOrDefault(c => c.Member == other && c.Now.Status == MemberStatus.Dead) is { Member.Value: not null } c ? c.At : null;

        public override string ToString() => Id.Value;
    }
}
