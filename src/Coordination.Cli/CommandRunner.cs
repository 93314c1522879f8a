using System.CommandLine;

namespace Coordination.Cli;

/// <summary>What every command shares: connect to the target cluster, run, and turn any failure into its one-line message and exit code.</summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(ParseResult result, ConnectionOptions options, TimeSpan? sessionTtl, Func<ClusterConnection, Output, Task<int>> body, CancellationToken cancellationToken)
    {
        var output = new Output(result.GetValue(options.Json));
        try
        {
            var target = options.Read(result);
            await using var connection = await output.WaitingAsync("Connecting to the cluster…", () => ClusterConnection.ConnectAsync(target, sessionTtl, cancellationToken));
            return await body(connection, output);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Output.Note("interrupted");
            return ExitCodes.Interrupted;
        }
        catch (Exception ex)
        {
            var failure = CliException.From(ex);
            output.Fail(failure);
            return failure.ExitCode;
        }
    }
}
