using System.Diagnostics;
using Coordination.Process.Tests.Infrastructure;
using Coordination.TestKit;
using Xunit.Abstractions;

namespace Coordination.Process.Tests;

/// <summary>Redis clustering as documented in silo-config/redis.json: one silo process per (here, simulated) machine, membership and metadata in Redis.</summary>
public sealed class RedisClusteringTests(ITestOutputHelper output)
{
    /// <summary>
    /// Session TTL of the test's client: the client library's default (15 s), which must outlive the failover
    /// of this configuration (Orleans' default membership backed by our LAN-preset probes; up to 6 s seen
    /// when the lock's grain was on the killed silo), so the holder's session survives the SIGKILL.
    /// </summary>
    private const double Ttl = 15;

    [SkippableFact]
    public async Task Three_silo_processes_on_redis_clustering_replicate_locks_and_survive_a_sigkill()
    {
        var redisServer = Prerequisites.Require("redis-server", "apt-get install redis-server");
        var ports = Ports.FreeBlock(10);
        var redisPort = ports + 9;
        var dir = Directory.CreateTempSubdirectory("coord-redis-").FullName;
        await using var redis = ChildProcess.StartProgram("redis", redisServer, ["--port", $"{redisPort}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]);
        await redis.WaitForLineAsync("Ready to accept connections", TimeSpan.FromSeconds(20));

        var clusterId = $"coord-redis-{Guid.NewGuid():N}";
        var silos = new List<ChildProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                silos.Add(ChildProcess.Start($"silo{i}", Repo.SiloDll,
                [
                    "silo", "--index", $"{i}", "--config", "redis",
                    $"--Coordination:Host:RedisConnectionString=127.0.0.1:{redisPort}",
                    $"--Coordination:Host:ClusterId={clusterId}",
                    $"--Coordination:Host:SiloPortBase={ports}",
                    $"--Coordination:Host:GatewayPortBase={ports + 3}",
                    $"--Coordination:Host:HealthPortBase={ports + 6}",
                    "--Coordination:FailureDetectionTime=00:00:03",
                    "--Coordination:SafetyMargin=00:00:00.5",
                    "--Coordination:Replication:PartitionCount=8",
                ]));
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                await Eventually.Async(async () =>
            {
                foreach (var i in new[] { 0, 1, 2 })
                {
                    if (!(await http.GetAsync(new Uri($"http://127.0.0.1:{ports + 6 + i}/health/ready"))).IsSuccessStatusCode)
                    {
                        return false;
                    }
                }

                return true;
            }, TimeSpan.FromSeconds(90), "three redis-clustered silos ready");
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException($"{ex.Message}\n{string.Join("\n", silos.Select(s => $"--- {s.Name} (exited: {s.HasExited}):\n{s.Tail(15)}"))}", ex);
            }

            int[] gateways = [ports + 3, ports + 4, ports + 5];
            await using var client = await TestClusterClient.ConnectAsync(clusterId, gateways, Ttl);
            var name = $"redis/{Guid.NewGuid():N}";
            var first = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
            var killed = Stopwatch.StartNew();
            silos[0].Signal(Signals.Kill);
            var info = await client.Coordination.CreateLock(name).GetInfoAsync();
            output.WriteLine($"lock readable {killed.Elapsed.TotalSeconds:F2} s after the SIGKILL; session lost: {first.IsLost}");

            // A failover longer than the session's client deadline ends the session, and the client, knowing
            // first, releases its locks: then an empty lock is correct, and this test would prove nothing.
            Assert.False(first.IsLost, $"the holder's session was lost during a {killed.Elapsed.TotalSeconds:F1} s failover (TTL {Ttl} s)");
            Assert.NotNull(info.Holder);
            Assert.Equal(first.FencingToken, info.Holder.FencingToken);
            await first.DisposeAsync();
            await using var second = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
            output.WriteLine($"tokens {first.FencingToken} then {second.FencingToken} across a SIGKILLed silo, membership and metadata in Redis");
            Assert.True(second.FencingToken > first.FencingToken);
        }
        catch (Exception) when (Dump(silos))
        {
            throw;
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }

            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>On failure, the silos' last lines go to the test output (the exception filter never catches).</summary>
    private bool Dump(List<ChildProcess> silos)
    {
        foreach (var silo in silos)
        {
            output.WriteLine($"--- {silo.Name} (exited: {silo.HasExited}):\n{silo.Tail(200)}");
        }

        return false;
    }
}
