using System.CommandLine;
using Coordination.Cli.Commands;

namespace Coordination.Cli;

/// <summary>
/// <c>coord</c>: the Coordination command line, modelled on etcdctl and consul (lock, elect, get/put/del/watch, listings, revoke, ping).
/// With no cluster flags it talks to the local cluster of <c>dotnet run --project src/Coordination.Silo</c>.
/// </summary>
internal static class Program
{
    /// <summary>How long an interrupted command may take to stop its child and release before the process ends anyway.</summary>
    private static readonly TimeSpan TerminationTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> Main(string[] args)
    {
        var connection = new ConnectionOptions();
        var root = new RootCommand("coord: locks, elections, values, counters, latches and sessions of a Coordination cluster.")
        {
            LockCommand.Create(connection),
            ElectCommand.Create(connection),
            ListCommands.Locks(connection),
            ListCommands.Elections(connection),
            ListCommands.Counters(connection),
            ListCommands.Latches(connection),
            ListCommands.Sessions(connection),
            ValueCommands.Get(connection),
            ValueCommands.Put(connection),
            ValueCommands.Delete(connection),
            ValueCommands.Watch(connection),
            ClusterCommands.Members(connection),
            ClusterCommands.Status(connection),
            ClusterCommands.Revoke(connection),
            PingCommand.Create(connection),
        };
        foreach (var option in connection.All)
        {
            root.Options.Add(option);
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var failure = CliException.BadInput(string.Join(" ", parsed.Errors.Select(e => e.Message)) + " (coord --help)");
            new Output(args.Contains("--json")).Fail(failure);
            return failure.ExitCode;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TerminationTimeout });
    }
}
