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
        var server = ChildProcess.StartProgram("redis", binary, ["--port", $"{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]);
        await server.WaitForLineAsync("Ready to accept connections", TimeSpan.FromSeconds(20));
        var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port}");
        return (new RedisBackend(redis, server), null);
    }

    public static async Task<(ILockBackend? Backend, string? Skipped)> EtcdAsync()
    {
        var binary = Which("etcd");
        if (binary is null)
        {
            return (null, "etcd not installed (apt-get install etcd-server)");
        }

        var port = Ports.FreeBlock(2);
        var dir = Directory.CreateTempSubdirectory("bench-etcd-").FullName;
        var client = $"http://127.0.0.1:{port}";
        var peer = $"http://127.0.0.1:{port + 1}";
        var server = ChildProcess.StartProgram("etcd", binary,
        [
            "--name", "bench", "--data-dir", dir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"bench={peer}",
        ]);
        await server.WaitForLineAsync("ready to serve client requests", TimeSpan.FromSeconds(30));
        return (new EtcdBackend(new dotnet_etcd.EtcdClient(client), client, server), null);
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
        var server = ChildProcess.StartProgram("postgres", "runuser", ["-u", "postgres", "--", Path.Combine(bin, "postgres"), "-D", dir, "-p", $"{port}", "-k", dir, "-c", "listen_addresses=127.0.0.1"]);
        await server.WaitForLineAsync("database system is ready to accept connections", TimeSpan.FromSeconds(30));
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
