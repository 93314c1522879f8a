using System.Collections.Concurrent;
using Coordination.Client;
using Coordination.TestKit;
using Xunit.Abstractions;

namespace Coordination.Process.Tests;

/// <summary>Restarting every silo of the local cluster, one after another, while clients keep working.</summary>
public sealed class RollingRestartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_rolling_restart_of_all_three_silos_under_load_loses_no_grant_and_never_overlaps()
    {
        await using var cluster = await LocalClusterProcess.StartAsync();
        await using var longHolder = await TestClusterClient.ConnectAsync(cluster);
        var longName = $"long/{Guid.NewGuid():N}";
        await using var held = await longHolder.Coordination.CreateLock(longName).AcquireAsync(TimeSpan.FromSeconds(30));

        var locks = Enumerable.Range(0, 3).Select(i => $"rolling/{i}/{Guid.NewGuid():N}").ToArray();
        var resources = locks.ToDictionary(l => l, _ => new FencedCounter());
        var clients = new List<TestClusterClient>();
        for (var i = 0; i < 4; i++)
        {
            clients.Add(await TestClusterClient.ConnectAsync(cluster));
        }

        using var stop = new CancellationTokenSource();
        var failures = new ConcurrentQueue<string>();
        var workers = clients.Select((c, i) => Task.Run(() => WorkAsync(c.Coordination, locks, resources, i, failures, stop.Token))).ToList();

        for (var index = 0; index < 3; index++)
        {
            var before = await cluster.PidOfAsync(index);
            Signals.Send(before, Signals.Term);
            await Eventually.Async(async () => (await cluster.SilosAsync()).Single(s => s.Index == index).Pid is { } now && now != before, TimeSpan.FromSeconds(60), $"silo{index} stopped gracefully and restarted by the launcher");
            await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(90));
            output.WriteLine($"silo{index} restarted (was pid {before}); sections so far: {resources.Values.Sum(r => r.Sections)}");
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);
        foreach (var c in clients)
        {
            await c.DisposeAsync();
        }

        var info = await longHolder.Coordination.CreateLock(longName).GetInfoAsync();
        output.WriteLine($"critical sections: {string.Join(", ", resources.Select(r => $"{r.Value.Sections}"))}; transient failures: {failures.Count}");
        Assert.All(resources.Values, r => Assert.Empty(r.Violations));
        Assert.All(resources.Values, r => Assert.Equal(r.Sections, r.Counter));
        Assert.True(resources.Values.Sum(r => r.Sections) > 30, "the workload made too little progress to mean anything");
        Assert.Equal(held.FencingToken, info.Holder!.FencingToken);
        Assert.False(held.IsLost, "the long-held lock was lost during the rolling restart");
    }

    private static async Task WorkAsync(ICoordinationClient client, string[] locks, Dictionary<string, FencedCounter> resources, int worker, ConcurrentQueue<string> failures, CancellationToken stop)
    {
        var random = new Random(worker);
        while (!stop.IsCancellationRequested)
        {
            var name = locks[random.Next(locks.Length)];
            try
            {
                await using var handle = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30), stop);
                await resources[name].IncrementAsync(handle.FencingToken, $"worker{worker}");
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is CoordinationException or TimeoutException)
            {
                failures.Enqueue(ex.GetType().Name);
            }
        }
    }

    /// <summary>
    /// State only the lock protects: a counter updated read-pause-write, behind a fence that refuses lower
    /// tokens and records overlaps. Two holders at once would lose an increment or trip the fence.
    /// </summary>
    private sealed class FencedCounter
    {
        private readonly Lock _gate = new();
        private long _highest;
        private string? _inside;

        public List<string> Violations { get; } = [];

        public int Counter { get; private set; }

        public int Sections { get; private set; }

        public async Task IncrementAsync(long token, string who)
        {
            lock (_gate)
            {
                if (token <= _highest)
                {
                    Violations.Add($"{who} came with token {token}, not above {_highest}");
                    return;
                }

                if (_inside is not null)
                {
                    Violations.Add($"{who} entered while {_inside} was inside");
                }

                _highest = token;
                _inside = who;
            }

            var read = Counter;
            await Task.Yield();
            Counter = read + 1;
            lock (_gate)
            {
                _inside = null;
                Sections++;
            }
        }
    }
}
