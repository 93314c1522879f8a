using System.Diagnostics;
using System.Net;
using Coordination.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

// Usage: Coordination.TestClient <cluster-id> <gateway ports, comma-separated> <lock or election name> <ttl seconds> [lock|elect]
// Prints (one per line, timestamps are Stopwatch ticks of CLOCK_MONOTONIC, comparable across processes):
//   ACQUIRED token=<t>         once it holds the lock (mode lock, the default)
//   ELECTED term=<t>           once it leads the election (mode elect)
//   DEADLINE at=<ts>           whenever its client deadline moves
//   LOST at=<ts> reason=<r>    when the handle's lost token fires
// Reads "release" on stdin to release (or resign) and exit.
//
// Mode app: the README's application. Takes the lock through the client's shared session, prints ACQUIRED, and on
// "exit" returns from Main still holding it: its host (a `using var`, started, never stopped) is disposed on the way out.
//
// Or: Coordination.TestClient <cluster-id> <gateway ports | local:gatewayBase:healthBase:silos> <keys, comma-separated> <ttl seconds> worker <worker id> <resource dir> <seed> <set|raw>
// runs a fault-suite worker (see FaultWorker) until "stop" on stdin.
var clusterId = args[0];
var name = args[2];
var ttl = TimeSpan.FromSeconds(double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture));
var worker = args.Length > 4 && args[4] == "worker";

var app = args.Length > 4 && args[4] == "app";

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
if (app)
{
    // What a user would see on the way out: warnings and errors.
    builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
}

if (args[1].StartsWith("local:", StringComparison.Ordinal))
{
    var local = args[1].Split(':').Skip(1).Select(int.Parse).ToArray();
    builder.UseOrleansClient(client => client.UseCoordinationLocalCluster(local[0], local[1], local[2], clusterId));
}
else
{
    var ports = args[1].Split(',').Select(int.Parse).ToArray();
    builder.UseOrleansClient(client => client
        .Configure<ClusterOptions>(o =>
        {
            o.ClusterId = clusterId;
            o.ServiceId = "coordination";
        })
        .UseStaticClustering([.. ports.Select(p => new IPEndPoint(IPAddress.Loopback, p))]));
}

builder.Services.AddCoordinationClient(o =>
{
    o.SessionTtl = ttl;
    o.DeadlineMargin = TimeSpan.FromMilliseconds(500);
    if (worker)
    {
        o.MaxPark = TimeSpan.FromSeconds(2);
        o.CallGrace = TimeSpan.FromSeconds(1);
        o.CallTimeout = TimeSpan.FromSeconds(3);
    }
});
using var host = builder.Build();
await host.StartAsync();

var client = host.Services.GetRequiredService<ICoordinationClient>();
if (worker)
{
    Console.Out.WriteLine("WORKER-READY");
    Console.Out.Flush();
    return await FaultWorker.RunAsync(client, name.Split(','), int.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture), args[6], int.Parse(args[7], System.Globalization.CultureInfo.InvariantCulture), args[8] == "set", args.Length > 9 ? args[9] : null, Console.Out);
}
if (app)
{
    var held = await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60));
    Console.Out.WriteLine($"ACQUIRED token={held.FencingToken}");
    Console.Out.Flush();
    while (Console.ReadLine() is { } command && command.Trim() != "exit")
    {
    }

    return 0;
}

await using var session = await client.OpenSessionAsync();
var output = Console.Out;
var gate = new Lock();
void Say(string line)
{
    lock (gate)
    {
        output.WriteLine(line);
        output.Flush();
    }
}

Func<Task> release;
if (args.Length > 4 && args[4] == "elect")
{
    var leadership = await session.CreateElection(name).CampaignAsync("test-client");
    Say($"ELECTED term={leadership.Term}");
    leadership.LeadershipLostToken.Register(() => Say($"LOST at={Stopwatch.GetTimestamp()} reason={session.LostReason ?? leadership.RevokedReason}"));
    release = leadership.ResignAsync;
}
else
{
    var handle = await session.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(60));
    Say($"ACQUIRED token={handle.FencingToken}");
    handle.HandleLostToken.Register(() => Say($"LOST at={Stopwatch.GetTimestamp()} reason={session.LostReason ?? handle.RevokedReason}"));
    release = async () => await handle.DisposeAsync();
}

var reported = 0L;
using var cts = new CancellationTokenSource();
var watch = Task.Run(async () =>
{
    // The session runs on TimeProvider.System, whose timestamps are Stopwatch ticks.
    while (!cts.IsCancellationRequested && !session.IsLost)
    {
        var deadline = session.DeadlineTimestamp;
        if (deadline != reported)
        {
            reported = deadline;
            Say($"DEADLINE at={deadline}");
        }

        // The session raises no event when its deadline moves, so the report samples it.
        await Task.Delay(10); // allowed: the sampling period of a report, not a wait for a state
    }
});

while (Console.ReadLine() is { } line)
{
    if (line.Trim() == "release")
    {
        await release();
        Say("RELEASED");
        break;
    }
}

await cts.CancelAsync();
await watch;
return 0;
