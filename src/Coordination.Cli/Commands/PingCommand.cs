using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

namespace Coordination.Cli.Commands;

/// <summary>
/// <c>coord ping [--count N] [--replica]</c> (redis-cli --latency, a small etcdctl check perf): calls one after the
/// other to the no-op <see cref="IPingGrain"/> at the gateway silo, or through one replica round trip as well, and
/// their latency: what the network and the silos cost before any lock's own work.
/// </summary>
internal static class PingCommand
{
    /// <summary>The most calls one run makes.</summary>
    public const int MaxCount = 100_000;

    public static Command Create(ConnectionOptions connection)
    {
        var count = new Option<int>("--count", "-c") { Description = $"Calls to make, one after the other (1 to {MaxCount:N0}). Default 20.", DefaultValueFactory = _ => 20 };
        count.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > MaxCount)
            {
                r.AddError($"--count must be 1 to {MaxCount:N0}.");
            }
        });
        var replica = new Option<bool>("--replica") { Description = "Each call also waits for one round trip from the gateway silo to another silo's replica (the least a replicated change needs)." };
        var ping = new Command("ping", "Time round trips to the cluster: a no-op call answered by the gateway silo, or through a replica with --replica.") { count, replica };
        ping.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var grain = cluster.Grains.GetGrain<IPingGrain>(0);
            var throughReplica = result.GetValue(replica);
            var latencies = new double[result.GetValue(count)];
            for (var i = 0; i < latencies.Length; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var started = Stopwatch.GetTimestamp();
                _ = throughReplica ? await grain.PingThroughReplica(i) : await grain.Ping(i);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            Array.Sort(latencies);
            var summary = new
            {
                calls = latencies.Length,
                throughReplica,
                minMs = Math.Round(latencies[0], 3),
                p50Ms = Math.Round(At(latencies, 0.5), 3),
                p99Ms = Math.Round(At(latencies, 0.99), 3),
                maxMs = Math.Round(latencies[^1], 3),
            };
            output.Write(summary, () => string.Create(
                CultureInfo.InvariantCulture,
                $"{summary.calls} calls {(throughReplica ? "through a replica" : "to the gateway silo")}: min {summary.minMs:0.000} / p50 {summary.p50Ms:0.000} / p99 {summary.p99Ms:0.000} / max {summary.maxMs:0.000} ms"));
            return ExitCodes.Ok;
        }, cancellationToken));
        return ping;
    }

    private static double At(double[] sorted, double quantile) => sorted[Math.Min(sorted.Length - 1, (int)(quantile * sorted.Length))];
}
