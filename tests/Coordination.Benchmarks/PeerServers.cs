using Coordination.TestKit;
using StackExchange.Redis;

namespace Coordination.Benchmarks;

/// <summary>Starts each peer as a fresh server on a free loopback port in a temporary directory, or says why it cannot.</summary>
internal static class PeerServers
{
    public static async Task<(ILockBackend? Backend, string? Skipped)> RedisAsync()
    {
        var binary = Which("redis-server");
        if (binary is null)
        {
            return (null, "redis-server not installed (apt-get install redis-server)");
        }

        var port = Ports.FreeBlock(1);
        var dir = Directory.CreateTempSubdirectory("bench-redis-").FullName;
        var process = ChildProcess.StartProgram("redis", binary, ["--port", $"{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]);
        var server = new PeerServer([process], dir);
        await process.WaitForLineAsync("Ready to accept connections", TimeSpan.FromSeconds(20));
        var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port}");
        return (new RedisBackend(redis, server), null);
    }

    /// <summary>
    /// etcd with <paramref name="members"/> members on loopback, each its own process and data directory, the
    /// cluster bootstrapped statically (as etcd's clustering guide does for a fixed set of machines).
    /// </summary>
    public static async Task<(ILockBackend? Backend, string? Skipped)> EtcdAsync(int members)
    {
        var binary = Which("etcd");
        if (binary is null)
        {
            return (null, "etcd not installed (apt-get install etcd-server)");
        }

        var port = Ports.FreeBlock(2 * members);
        var dir = Directory.CreateTempSubdirectory("bench-etcd-").FullName;
        var clients = Enumerable.Range(0, members).Select(i => $"http://127.0.0.1:{port + (2 * i)}").ToArray();
        var peers = Enumerable.Range(0, members).Select(i => $"http://127.0.0.1:{port + (2 * i) + 1}").ToArray();
        var initialCluster = string.Join(',', peers.Select((peer, i) => $"m{i}={peer}"));
        var processes = Enumerable.Range(0, members).Select(i => ChildProcess.StartProgram($"etcd{i}", binary,
        [
            "--name", $"m{i}", "--data-dir", Path.Combine(dir, $"m{i}"),
            "--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
            "--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
            "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", Path.GetFileName(dir),
        ])).ToList();
        var server = new PeerServer(processes, dir);
        try
        {
            // Each member says so only once the cluster has elected a leader.
            await Task.WhenAll(processes.Select(p => p.WaitForLineAsync("ready to serve client requests", TimeSpan.FromSeconds(30))));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return (new EtcdBackend(new dotnet_etcd.EtcdClient(string.Join(',', clients)), clients[0], members, server), null);
    }

    public static async Task<(ILockBackend? Backend, string? Skipped)> PostgresAsync()
    {
        var bin = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "postgres"))) : null;
        if (bin is null || Which("runuser") is null)
        {
            return (null, "postgresql not installed (apt-get install postgresql)");
        }

        var port = Ports.FreeBlock(1);
        var dir = Directory.CreateTempSubdirectory("bench-pg-").FullName;
        await RunAsync("chown", ["postgres", dir]);
        await RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(bin, "initdb"), "-D", dir, "-A", "trust", "-U", "postgres"]);
        // The postmaster runs under runuser; its backends (one per connection) and background workers are
        // its children: the server's CPU is that whole tree.
        var process = ChildProcess.StartProgram("postgres", "runuser", ["-u", "postgres", "--", Path.Combine(bin, "postgres"), "-D", dir, "-p", $"{port}", "-k", dir, "-c", "listen_addresses=127.0.0.1"]);
        var server = new PeerServer([process], dir);
        await process.WaitForLineAsync("database system is ready to accept connections", TimeSpan.FromSeconds(30));
        return (new PostgresBackend($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Maximum Pool Size=64", server), null);
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static async Task RunAsync(string program, string[] args)
    {
        await using var p = ChildProcess.StartProgram(program, program, args);
        var code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        if (code != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({code}): {p.Tail()}");
        }
    }
}

/// <summary>A peer's server processes (each the root of a process tree) and its temporary data directory, removed once they are stopped.</summary>
internal sealed class PeerServer(IReadOnlyList<ChildProcess> processes, string dataDirectory) : IAsyncDisposable
{
    public ServerCost Cost() => new(ProcessCpu.OfTrees(processes.Select(p => p.Pid)));

    public async ValueTask DisposeAsync()
    {
        foreach (var process in processes)
        {
            await process.DisposeAsync();
        }

        try
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a temporary directory.
        }
    }
}
