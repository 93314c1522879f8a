using System.Diagnostics;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit.Faults;
using Xunit.Abstractions;

namespace Coordination.Cluster.Tests;

/// <summary>
/// Concurrent clients read, add and compare-and-set one counter while the silo hosting its grain is killed; the
/// recorded history is checked with the Wing–Gong–Lowe search against the counter model (<see cref="AtomicLongModel"/>).
/// An operation that ends in an error is of unknown outcome (Info) and retires its process, as in the fault suite.
/// </summary>
public sealed class CounterLinearizabilityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Counter_operations_of_concurrent_clients_are_linearizable_across_a_silo_kill()
    {
        await using var cluster = await CoordinationCluster.StartAsync();
        var name = $"linearizable-counter/{Guid.NewGuid():N}";
        var recorder = new HistoryRecorder(Stopwatch.GetTimestamp);
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(() => WorkAsync(cluster, name, w, recorder, stop.Token))).ToList();
        await Task.Delay(TimeSpan.FromSeconds(2));

        var host = await cluster.HostOfAsync(cluster.Grains.GetGrain<IAtomicLongGrain>(name));
        await cluster.Cluster.KillSiloAsync(cluster.Silo(host));
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var operations = recorder.Snapshot().Operations();
        var result = Linearizability.Check(operations, new AtomicLongModel(), TimeSpan.FromSeconds(60));
        output.WriteLine($"{operations.Count} operations ({operations.Count(o => o.Outcome == OpType.Info)} of unknown outcome, {operations.Count(o => o.F == "cas" && o.Result == 1)} swaps): {result}");
        Assert.True(result.IsOk, result.ToString());
        Assert.True(operations.Count(o => o.Outcome == OpType.Ok) > 100, "the workload made too little progress to mean anything");
    }

    private static async Task WorkAsync(CoordinationCluster cluster, string name, int worker, HistoryRecorder recorder, CancellationToken stop)
    {
        var random = new Random(worker);
        var process = worker * 10_000;
        var counter = cluster.NewClient().CreateAtomicLong(name);
        var last = 0L;
        while (!stop.IsCancellationRequested)
        {
            var kind = random.Next(3);
            var delta = random.Next(1, 3);
            var expected = last;
            var op = kind switch
            {
                0 => recorder.Invoke(process, "read", name),
                1 => recorder.Invoke(process, "add", name, delta),
                _ => recorder.Invoke(process, "cas", name, expected, expected + delta),
            };
            try
            {
                switch (kind)
                {
                    case 0:
                        last = await counter.GetAsync();
                        op.Ok(last);
                        break;
                    case 1:
                        last = await counter.AddAsync(delta);
                        op.Ok(last);
                        break;
                    default:
                        op.Ok(await counter.CompareAndSetAsync(expected, expected + delta) ? 1 : 0);
                        break;
                }
            }
            catch (Exception ex) when (ex is CoordinationException or TimeoutException or OrleansException)
            {
                op.Info(ex.GetType().Name);
                process++;
            }
        }
    }
}
