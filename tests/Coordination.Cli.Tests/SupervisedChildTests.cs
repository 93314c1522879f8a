using System.Diagnostics;
using System.Globalization;
using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary>
/// The command <c>coord lock</c> runs never outlives the lease on the client's clock: it is asked to stop (SIGTERM) when
/// the lease has no more than the grace period left, and killed with every process it started when the lease runs out,
/// even if its grace period is longer. Real processes; the lease is scripted.
/// </summary>
public sealed class SupervisedChildTests : IDisposable
{
    private readonly string _pidFile = Path.Combine(Path.GetTempPath(), $"coord-child-{Guid.NewGuid():N}.pid");

    /// <summary>A command that ignores SIGTERM (and so does the process it starts), writing its child's pid to a file.</summary>
    private string[] Stubborn => ["sh", "-c", $"trap '' TERM; sleep 300 & echo $! > '{_pidFile}'; wait; wait"];

    [Fact]
    public async Task A_command_asked_to_stop_is_killed_with_its_children_when_the_lease_runs_out_even_within_its_grace_period()
    {
        using var stop = new CancellationTokenSource();
        var lease = new ScriptedLease();
        var run = SupervisedChild.RunAsync(Stubborn, new Dictionary<string, string>(), TimeSpan.FromSeconds(60), lease.Remaining, stop.Token);
        var grandchild = await GrandchildAsync();

        // Revoked, say, while the keepalives go unanswered: the command gets SIGTERM (ignored) and a grace period of
        // 60 s, but the lease ends in 3 s.
        lease.RunsOutIn(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        var (_, stopped) = await run.WaitAsync(TimeSpan.FromSeconds(40));
        Assert.True(stopped);
        Assert.True(lease.Remaining() == TimeSpan.Zero, $"the command was killed with {lease.Remaining()} of its lease left");
        await Eventually.Async(() => !Alive(grandchild), TimeSpan.FromSeconds(5), $"the command's own child (pid {grandchild}) to be gone with it (SIGKILL sent to the whole tree)");
    }

    [Fact]
    public async Task A_command_is_asked_to_stop_when_the_lease_has_only_the_grace_period_left_and_killed_when_it_runs_out()
    {
        var lease = new ScriptedLease();
        var run = SupervisedChild.RunAsync(Stubborn, new Dictionary<string, string>(), TimeSpan.FromSeconds(2), lease.Remaining, CancellationToken.None);
        var grandchild = await GrandchildAsync();

        // Nothing asks it to stop: its keepalives are going unanswered, and the lease runs down.
        lease.RunsOutIn(TimeSpan.FromSeconds(4));
        var (_, stopped) = await run.WaitAsync(TimeSpan.FromSeconds(40));
        Assert.True(stopped);
        await Eventually.Async(() => !Alive(grandchild), TimeSpan.FromSeconds(5), $"the command's own child (pid {grandchild}) to be gone with it (SIGKILL sent to the whole tree)");
    }

    [Fact]
    public async Task A_command_that_finishes_while_the_lease_is_kept_is_not_stopped()
    {
        var (code, stopped) = await SupervisedChild.RunAsync(["sh", "-c", "exit 7"], new Dictionary<string, string>(), TimeSpan.FromSeconds(2), () => TimeSpan.FromSeconds(10), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(40));
        Assert.Equal((7, false), (code, stopped));
    }

    public void Dispose() => File.Delete(_pidFile);


    private async Task<int> GrandchildAsync()
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            if (File.Exists(_pidFile) && (await File.ReadAllTextAsync(_pidFile)).Trim() is { Length: > 0 } text && int.TryParse(text, CultureInfo.InvariantCulture, out var pid))
            {
                return pid;
            }

            Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(20), "the command did not write its child's pid within 20 s");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    private static bool Alive(int pid) => File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
}

/// <summary>A session's lease as the test scripts it: kept (ten minutes left) until it runs out from a moment on, no keepalive acknowledged after.</summary>
internal sealed class ScriptedLease
{
    private long _from;
    private long _spanTicks = -1;

    public TimeSpan Remaining()
    {
        var span = Interlocked.Read(ref _spanTicks);
        if (span < 0)
        {
            return TimeSpan.FromMinutes(10);
        }

        var left = TimeSpan.FromTicks(span) - Stopwatch.GetElapsedTime(Interlocked.Read(ref _from));
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    public void RunsOutIn(TimeSpan span)
    {
        Interlocked.Exchange(ref _from, Stopwatch.GetTimestamp());
        Interlocked.Exchange(ref _spanTicks, span.Ticks);
    }
}
