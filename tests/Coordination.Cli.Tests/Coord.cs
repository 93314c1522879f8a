using System.Diagnostics;
using System.Text.Json;
using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary>What one run of the real coord binary printed and returned.</summary>
public sealed record CoordResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement;

    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:0.0} s\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Runs the built coord (dotnet coord.dll), with stdout and stderr kept apart, as a user's shell would.</summary>
public static class Coord
{
    public static async Task<CoordResult> RunAsync(IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Repo.CliDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"coord {string.Join(' ', args)} did not exit within {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds:0} s. Output so far:\n{await stdout}\n{await stderr}");
        }

        return new CoordResult(process.ExitCode, await stdout, await stderr, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>A long-running coord (lock, elect) whose lines can be awaited.</summary>
    public static ChildProcess Start(string name, IEnumerable<string> args) => ChildProcess.Start(name, Repo.CliDll, args);
}
