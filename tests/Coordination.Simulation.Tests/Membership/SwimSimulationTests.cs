using System.Collections.Concurrent;
using System.Diagnostics;
using Coordination.Membership.Protocol;
using Coordination.TestKit.Membership;
using Coordination.TestKit.Simulation;
using Xunit.Abstractions;

namespace Coordination.Simulation.Tests.Membership;

/// <summary>
/// The real probe protocol in seeded simulations (local preset timings): crashed and long-paused members
/// are declared dead by every live member within a bound; below 10 % message loss, with short pauses and
/// short partitions, no live member is ever declared dead; messages per member stay flat as the group
/// grows. Set COORD_SIM_SEED to replay one seed.
/// </summary>
public sealed class SwimSimulationTests(ITestOutputHelper output)
{
    /// <summary>Loss below which no live member may ever be declared dead (the stated accuracy bound).</summary>
    public const double LossBound = 0.10;

    /// <summary>Every live view must hold a crashed member dead this soon after the crash (local preset).</summary>
    private static readonly TimeSpan DetectionBound = TimeSpan.FromSeconds(8);

    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(3);

    private static ProbeOptions Options => ProbeOptions.Local();

    [Theory]
    [InlineData(5, 60)]
    [InlineData(25, 12)]
    public void Crashed_members_are_declared_dead_by_every_live_member(int size, int seeds)
    {
        var detections = new ConcurrentBag<TimeSpan>();
        var failures = new ConcurrentBag<string>();
        Parallel.ForEach(SimSeeds.Range(seeds, offset: size * 1000), seed =>
        {
            var sim = new SwimSimulation(size, seed, Options, loss: 0.01);
            sim.RunUntil(WarmUp);
            var random = new Random(seed);
            var crashed = Enumerable.Range(0, size).OrderBy(_ => random.Next()).Take(Math.Max(1, size / 5)).Select(sim.Id).ToList();
            var at = sim.Now;
            crashed.ForEach(sim.Crash);
            sim.RunFor(DetectionBound);
            foreach (var live in sim.Live)
            {
                foreach (var dead in crashed)
                {
                    if (live.DeadAt(dead) is { } when)
                    {
                        detections.Add(when - at);
                    }
                    else
                    {
                        failures.Add($"seed {seed}: {live} still holds {dead} as {live.Node.View[dead]} {DetectionBound} after the crash");
                    }
                }
            }

            failures.AddRange(FalseDeaths(sim, crashed));
        });

        Report($"{size} members, {seeds} seeds: crash → dead in a live view", detections);
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(10)));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(25)]
    public void Below_the_loss_bound_no_live_member_is_ever_declared_dead(int size)
    {
        var failures = new ConcurrentBag<string>();
        var suspicions = 0L;
        Parallel.ForEach(SimSeeds.Range(8, offset: 50_000 + size), seed =>
        {
            var sim = new SwimSimulation(size, seed, Options, loss: LossBound, maxDelay: TimeSpan.FromMilliseconds(20));
            sim.RunUntil(TimeSpan.FromSeconds(60));
            failures.AddRange(FalseDeaths(sim, []));
            Interlocked.Add(ref suspicions, sim.Members.Sum(m => m.Changes.Count(c => c.Now.Status == MemberStatus.Suspect)));
        });

        output.WriteLine($"{size} members, {LossBound:P0} loss, 8 × 60 s: {suspicions} suspicions raised (all refuted), no deaths");
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void Messages_per_member_per_second_stay_flat_as_the_group_grows()
    {
        var rates = new Dictionary<int, double>();
        foreach (var size in new[] { 5, 25, 50 })
        {
            var sim = new SwimSimulation(size, seed: 7, Options);
            sim.RunUntil(TimeSpan.FromSeconds(30));
            rates[size] = sim.Members.Sum(m => m.Sent) / (double)size / 30;
        }

        output.WriteLine(string.Join(", ", rates.Select(r => $"{r.Key} members: {r.Value:0.0} msg/member/s")));
        Assert.True(rates.Values.Max() / rates.Values.Min() < 1.3, $"messages per member grew with the group: {string.Join(", ", rates)}");
    }

    [Fact]
    public void A_short_pause_is_survived_and_a_long_one_is_final()
    {
        foreach (var seed in SimSeeds.Range(30, offset: 70_000))
        {
            var sim = new SwimSimulation(5, seed, Options);
            sim.RunUntil(WarmUp);
            var brief = sim.Id(1);
            sim.Pause(brief, TimeSpan.FromMilliseconds(600));
            sim.RunFor(TimeSpan.FromSeconds(5));
            Assert.True(FalseDeaths(sim, []).Count == 0, $"seed {seed}: a 600 ms pause got a member declared dead: {string.Join("; ", FalseDeaths(sim, []))}");

            var stopped = sim.Id(2);
            var before = sim[stopped].Node.View[stopped]!.Value.Incarnation;
            sim.Pause(stopped, TimeSpan.FromSeconds(10));
            sim.RunFor(TimeSpan.FromSeconds(15));
            foreach (var live in sim.Live)
            {
                Assert.True(live.DeadAt(stopped) is not null, $"seed {seed}: {live} never declared the paused {stopped} dead");
                Assert.Equal(MemberStatus.Dead, live.Node.View[stopped]!.Value.Status);
            }

            // Resumed, it learned it is out and stayed out: nobody holds it alive again at any incarnation.
            Assert.True(sim[stopped].Node.IsOut, $"seed {seed}: the resumed member did not learn it was declared dead");
            Assert.True(sim.Members.Where(m => m.Id != stopped).All(m => m.Changes.Where(c => c.Member == stopped).SkipWhile(c => c.Now.Status != MemberStatus.Dead).All(c => c.Now.Status == MemberStatus.Dead)));
            Assert.True(sim[stopped].Node.View[stopped]!.Value.Incarnation >= before);
        }
    }

    [Fact]
    public void An_isolated_member_is_declared_dead_by_the_rest_and_alone_declares_nobody_dead()
    {
        foreach (var seed in SimSeeds.Range(30, offset: 80_000))
        {
            var sim = new SwimSimulation(5, seed, Options);
            sim.RunUntil(WarmUp);
            var alone = sim.Id(0);
            sim.Blocked = (a, b) => a == alone || b == alone;
            sim.RunFor(TimeSpan.FromSeconds(10));
            foreach (var member in sim.Members.Where(m => m.Id != alone))
            {
                Assert.True(member.DeadAt(alone) is not null, $"seed {seed}: {member} never declared the isolated member dead");
            }

            Assert.True(sim[alone].Changes.All(c => c.Now.Status != MemberStatus.Dead || c.Member == alone), $"seed {seed}: the isolated member declared others dead on its own");
        }
    }

    [Fact]
    public void In_a_long_partition_only_the_majority_side_declares_deaths()
    {
        foreach (var seed in SimSeeds.Range(30, offset: 85_000))
        {
            var sim = new SwimSimulation(5, seed, Options, loss: 0.02);
            sim.RunUntil(WarmUp);
            var minority = new HashSet<MemberId> { sim.Id(0), sim.Id(1) };
            sim.Blocked = (a, b) => minority.Contains(a) != minority.Contains(b);
            sim.RunFor(TimeSpan.FromSeconds(15));
            foreach (var member in sim.Members)
            {
                var declared = member.Changes.Where(c => c.Now.Status == MemberStatus.Dead && c.DeclaredHere).Select(c => c.Member).ToList();
                if (minority.Contains(member.Id))
                {
                    Assert.True(declared.Count == 0, $"seed {seed}: {member}, on the minority side, declared {string.Join(", ", declared)} dead");
                }
                else
                {
                    Assert.All(minority, m => Assert.True(member.DeadAt(m) is not null, $"seed {seed}: {member} never held {m} dead"));
                }
            }
        }
    }

    [Fact]
    public void A_partition_shorter_than_the_suspicion_heals_without_deaths()
    {
        foreach (var seed in SimSeeds.Range(30, offset: 90_000))
        {
            var sim = new SwimSimulation(6, seed, Options, loss: 0.02);
            sim.RunUntil(WarmUp);
            sim.Blocked = (a, b) => (string.CompareOrdinal(a.Value, "m003") < 0) != (string.CompareOrdinal(b.Value, "m003") < 0);
            sim.RunFor(TimeSpan.FromMilliseconds(500));
            sim.Blocked = null;
            sim.RunFor(TimeSpan.FromSeconds(10));
            var deaths = FalseDeaths(sim, []);
            Assert.True(deaths.Count == 0, $"seed {seed}: {string.Join("; ", deaths)}");
        }
    }

    /// <summary>
    /// Thousands of random five-member schedules: loss up to the bound, and one fault each (a crash, a long
    /// pause, an isolation, a short pause, or none) at a random moment. A member that crashed, paused long
    /// or was cut off is declared dead by every live member within the bound; nobody else ever is.
    /// </summary>
    [Fact]
    public void Random_schedules_detect_every_failure_and_never_evict_a_healthy_member()
    {
        var watch = Stopwatch.StartNew();
        var failures = new ConcurrentBag<string>();
        var detections = new ConcurrentBag<TimeSpan>();
        var seeds = SimSeeds.Range(2000, offset: 1).ToList();
        Parallel.ForEach(seeds, seed =>
        {
            var random = new Random(seed);
            var sim = new SwimSimulation(5, seed, Options, loss: random.NextDouble() * LossBound, maxDelay: TimeSpan.FromMilliseconds(1 + (random.NextDouble() * 20)));
            sim.RunUntil(WarmUp + TimeSpan.FromMilliseconds(random.Next(2000)));
            var victim = sim.Id(random.Next(5));
            var fault = random.Next(5);
            var at = sim.Now;
            var mustDie = false;
            switch (fault)
            {
                case 0:
                    sim.Crash(victim);
                    mustDie = true;
                    break;
                case 1:
                    sim.Pause(victim, TimeSpan.FromSeconds(12));
                    mustDie = true;
                    break;
                case 2:
                    sim.Blocked = (a, b) => a == victim || b == victim;
                    mustDie = true;
                    break;
                case 3:
                    sim.Pause(victim, TimeSpan.FromMilliseconds(random.Next(50, 600)));
                    break;
            }

            sim.RunFor(DetectionBound);
            if (mustDie)
            {
                foreach (var live in sim.Members.Where(m => m.Id != victim))
                {
                    if (live.DeadAt(victim) is { } when)
                    {
                        detections.Add(when - at);
                    }
                    else
                    {
                        failures.Add($"seed {seed} (fault {fault}): {live} holds {victim} as {live.Node.View[victim]} {DetectionBound} later");
                    }
                }
            }

            failures.AddRange(FalseDeaths(sim, mustDie ? [victim] : []).Select(f => $"seed {seed} (fault {fault}): {f}"));
        });

        Report($"{seeds.Count} random schedules in {watch.Elapsed.TotalSeconds:0.0} s: failure → dead in a live view", detections);
        Assert.True(failures.IsEmpty, $"replay with COORD_SIM_SEED=<seed>:\n{string.Join("\n", failures.Take(10))}");
    }

    /// <summary>Each deliberately broken protocol must be caught by the same checks the real one passes.</summary>
    [Theory]
    [InlineData("NoRefutation")]
    [InlineData("AliveNeverOverridesSuspect")]
    [InlineData("LoneAccuser")]
    public void Broken_variants_are_caught(string variant)
    {
        var broken = Enum.Parse<SwimFaults.Breakage>(variant);
        var caught = new ConcurrentBag<string>();
        Parallel.ForEach(Enumerable.Range(1, 50), seed =>
        {
            // Loss well below the bound, then an isolated member: what the real protocol survives without a false death.
            var sim = new SwimSimulation(5, seed, Options, LossBound / 2, null, null, broken);
            sim.RunUntil(TimeSpan.FromSeconds(20));
            var alone = sim.Id(0);
            sim.Blocked = (a, b) => a == alone || b == alone;
            sim.RunFor(TimeSpan.FromSeconds(10));
            caught.AddRange(FalseDeaths(sim, [alone]).Select(f => $"seed {seed}: {f}"));
        });

        output.WriteLine($"{variant}: {caught.Count} false deaths over 50 seeds, e.g. {caught.FirstOrDefault()}");
        Assert.False(caught.IsEmpty, $"the broken variant {variant} went unnoticed");
    }

    /// <summary>Any member other than <paramref name="faulty"/> that some member ever held dead.</summary>
    private static List<string> FalseDeaths(SwimSimulation sim, IReadOnlyCollection<MemberId> faulty) =>
        [.. sim.Members.SelectMany(m => m.Changes
            .Where(c => c.Now.Status == MemberStatus.Dead && !faulty.Contains(c.Member) && c.Member != m.Id)
            .Select(c => $"{m} declared the healthy {c.Member} dead at {c.At}"))];

    private void Report(string what, ConcurrentBag<TimeSpan> times)
    {
        if (times.IsEmpty)
        {
            return;
        }

        var sorted = times.Order().ToList();
        output.WriteLine($"{what}: median {sorted[sorted.Count / 2].TotalSeconds:0.00} s, p95 {sorted[(int)(sorted.Count * 0.95)].TotalSeconds:0.00} s, max {sorted[^1].TotalSeconds:0.00} s ({sorted.Count} views)");
    }

}

internal static class BagExtensions
{
    public static void AddRange<T>(this ConcurrentBag<T> bag, IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            bag.Add(item);
        }
    }
}
