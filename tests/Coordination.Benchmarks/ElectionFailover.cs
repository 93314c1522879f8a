using System.Diagnostics;
using System.Globalization;
using Coordination.TestKit;
using Google.Protobuf;

namespace Coordination.Benchmarks;

/// <summary>
/// Leader failover after the leader's process dies (SIGKILL), with the same lease TTL on both sides: a
/// second candidate is already waiting when the leader is killed, and the figure is the time from the kill
/// until that candidate is elected. Both leaders are separate processes, so nothing resigns for them.
/// </summary>
internal static class ElectionFailover
{
    /// <summary>Our leader is a TestClient process campaigning through the client library.</summary>
    public static async Task<List<TimeSpan>> CoordinationAsync(LocalClusterProcess cluster, TestClusterClient client, int trials, int ttlSeconds)
    {
        var results = new List<TimeSpan>();
        for (var i = 0; i < trials; i++)
        {
            await cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(120));
            var name = $"bench/election/{Guid.NewGuid():N}";
            await using var leader = ChildProcess.Start("leader", Repo.TestClientDll, [cluster.ClusterId, string.Join(',', cluster.GatewayPorts), name, ttlSeconds.ToString(CultureInfo.InvariantCulture), "elect"], redirectInput: true);
            await leader.WaitForLineAsync("ELECTED", TimeSpan.FromSeconds(60));
            var election = client.Coordination.CreateElection(name);
            var next = election.CampaignAsync("next");
            await Eventually.Async(async () => (await election.GetStateAsync()).Candidates.Length == 1, TimeSpan.FromSeconds(30), "the second candidate queued");
            var watch = Stopwatch.StartNew();
            leader.Signal(Signals.Kill);
            await using (await next)
            {
                results.Add(watch.Elapsed);
            }

            Console.Error.WriteLine($"Coordination leader failover trial {i + 1}: {watch.Elapsed.TotalSeconds:0.00} s");
        }

        return results;
    }

    /// <summary>etcd's leader is this program run as <c>etcd-leader</c>: a lease with the same TTL, kept alive, and a Campaign (concurrency.Election's server side).</summary>
    public static async Task<List<TimeSpan>> EtcdAsync(string endpoint, int trials, int ttlSeconds)
    {
        using var etcd = new dotnet_etcd.EtcdClient(endpoint);
        var results = new List<TimeSpan>();
        for (var i = 0; i < trials; i++)
        {
            var name = $"bench/election/{Guid.NewGuid():N}";
            await using var leader = ChildProcess.Start("etcd-leader", typeof(ElectionFailover).Assembly.Location, ["etcd-leader", endpoint, name, ttlSeconds.ToString(CultureInfo.InvariantCulture)], redirectInput: true);
            await leader.WaitForLineAsync("ELECTED", TimeSpan.FromSeconds(60));
            var (lease, stop, keepAlive) = await LeaseAsync(etcd, ttlSeconds);
            try
            {
                var next = etcd.CampaignAsync(Campaign(name, lease, "next"));
                await Eventually.Async(async () => (await etcd.GetRangeAsync(name + "/")).Count == 2, TimeSpan.FromSeconds(30), "the second candidate's key in etcd");
                var watch = Stopwatch.StartNew();
                leader.Signal(Signals.Kill);
                var elected = await next;
                results.Add(watch.Elapsed);
                await etcd.ResignAsync(new V3Electionpb.ResignRequest { Leader = elected.Leader });
                Console.Error.WriteLine($"etcd leader failover trial {i + 1}: {watch.Elapsed.TotalSeconds:0.00} s");
            }
            finally
            {
                await stop.CancelAsync();
                await Quietly(keepAlive);
                stop.Dispose();
            }
        }

        return results;
    }

    /// <summary>The child process: campaigns in etcd with a kept-alive lease, says ELECTED and stays leader until killed.</summary>
    public static async Task<int> EtcdLeaderAsync(string endpoint, string name, int ttlSeconds)
    {
        using var etcd = new dotnet_etcd.EtcdClient(endpoint);
        var (lease, stop, keepAlive) = await LeaseAsync(etcd, ttlSeconds);
        var elected = await etcd.CampaignAsync(Campaign(name, lease, "leader"));
        Console.WriteLine($"ELECTED rev={elected.Leader.Rev}");
        Console.Out.Flush();
        await Task.Run(() =>
        {
            while (Console.ReadLine() is not null)
            {
                // Leads until killed or stdin closes.
            }
        });
        await stop.CancelAsync();
        await Quietly(keepAlive);
        return 0;
    }

    private static V3Electionpb.CampaignRequest Campaign(string name, long lease, string value) =>
        new() { Name = ByteString.CopyFromUtf8(name), Lease = lease, Value = ByteString.CopyFromUtf8(value) };

    private static async Task<(long Lease, CancellationTokenSource Stop, Task KeepAlive)> LeaseAsync(dotnet_etcd.EtcdClient etcd, int ttlSeconds)
    {
        var lease = await etcd.LeaseGrantAsync(new Etcdserverpb.LeaseGrantRequest { TTL = ttlSeconds });
        var stop = new CancellationTokenSource();
        return (lease.ID, stop, etcd.LeaseKeepAlive(lease.ID, stop.Token));
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
            // Keepalive loop cancelled.
        }
    }
}
