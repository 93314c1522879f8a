using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary><c>coord lock</c> as etcdctl lock: the command runs under the lock, sees its name and token, and its exit status is coord's; a lost lock stops it.</summary>
[Collection(CliClusterCollection.Name)]
public sealed partial class LockTests(CliCluster fixture)
{
    [Fact]
    public async Task The_command_sees_its_fencing_token_which_coord_locks_shows_held_and_its_exit_code_is_passed_through()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        var listing = Path.Combine(Path.GetTempPath(), $"coord-locks-{Guid.NewGuid():N}.json");
        try
        {
            // The command lists the locks itself while it holds this one, so the listing must show it held with the token it was given.
            var listCommand = string.Join(' ', ((string[])["dotnet", Repo.CliDll, "locks", "--json", .. fixture.Target]).Select(Quote));
            var script = $"""
                echo "name=$COORD_LOCK_NAME token=$COORD_FENCING_TOKEN"
                {listCommand} > {Quote(listing)} || exit 90
                exit 7
                """;
            var run = await fixture.RunAsync("lock", name, "--ttl", "6s", "--", "sh", "-c", script);

            Assert.True(run.ExitCode == 7, $"coord lock should return the command's exit status 7; {run}");
            var printed = TokenLine().Match(run.Stdout);
            Assert.True(printed.Success, $"the command should print its lock name and token; {run}");
            Assert.Equal(name, printed.Groups["name"].Value);
            var token = long.Parse(printed.Groups["token"].Value, CultureInfo.InvariantCulture);
            Assert.True(token > 0, $"a fencing token is positive, got {token}");

            var listed = JsonDocument.Parse(await File.ReadAllTextAsync(listing)).RootElement.GetProperty("locks").EnumerateArray().SingleOrDefault(l => l.GetProperty("name").GetString() == name);
            Assert.True(listed.ValueKind == JsonValueKind.Object, $"coord locks --json, run while the lock was held, should list '{name}': {await File.ReadAllTextAsync(listing)}");
            Assert.Equal(token, listed.GetProperty("holder").GetProperty("fencingToken").GetInt64());

            var after = await fixture.RunAsync("locks", "--json");
            Assert.True(after.ExitCode == 0, after.ToString());
            Assert.DoesNotContain(after.Json.GetProperty("locks").EnumerateArray(), l => l.GetProperty("name").GetString() == name);
        }
        finally
        {
            File.Delete(listing);
        }
    }

    [Fact]
    public async Task A_revoked_lock_stops_the_command_and_coord_exits_with_the_lost_code()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        await using var holder = Coord.Start("coord lock", ["lock", name, "--ttl", "6s", "--grace", "2s", .. fixture.Target, "--", "sh", "-c", "echo \"holding pid=$$ token=$COORD_FENCING_TOKEN\"; exec sleep 300"]);
        var holding = await holder.WaitForLineAsync(@"holding pid=(\d+) token=(\d+)", TimeSpan.FromSeconds(30));
        var childPid = int.Parse(holding.Groups[1].Value, CultureInfo.InvariantCulture);

        var revoke = await fixture.RunAsync("revoke", name, "--reason", "cli test", "--json");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Equal(long.Parse(holding.Groups[2].Value, CultureInfo.InvariantCulture), revoke.Json.GetProperty("revoked").GetProperty("fencingToken").GetInt64());

        // The holder hears of the revoke at its next keepalive (every TTL/3), then stops the command at once.
        var exit = await holder.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exit == 125, $"coord lock should exit 125 (lost) once its lock is revoked, got {exit}; output:\n{holder.Tail()}");
        Assert.Contains("cli test", holder.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/proc/{childPid}"), $"the command (pid {childPid}) should have been stopped with the lock");

        // An operator's act: recorded in the audit trail with who and why.
        var status = await fixture.RunAsync("status", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        var audit = status.Json.GetProperty("lastAudit");
        Assert.Contains(name, audit.GetProperty("action").GetString(), StringComparison.Ordinal);
        Assert.Equal("cli test", audit.GetProperty("reason").GetString());
        Assert.EndsWith("(coord)", audit.GetProperty("operator").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_revoked_session_stops_the_command_holding_its_lock_and_coord_exits_with_the_lost_code()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        await using var holder = Coord.Start("coord lock", ["lock", name, "--ttl", "6s", "--grace", "2s", .. fixture.Target, "--", "sh", "-c", "echo holding; exec sleep 300"]);
        await holder.WaitForLineAsync("holding", TimeSpan.FromSeconds(30));
        var listed = await fixture.RunAsync("locks", "--prefix", name, "--json");
        var tag = Assert.Single(listed.Json.GetProperty("locks").EnumerateArray()).GetProperty("holder").GetProperty("sessionTag").GetString()!;

        Assert.Equal(64, (await fixture.RunAsync("revoke", tag, "--session", "--election")).ExitCode);
        var revoke = await fixture.RunAsync("revoke", tag, "--session", "--reason", "cli session test", "--json");
        Assert.True(revoke.ExitCode == 0 && !revoke.Json.GetProperty("alreadyEnded").GetBoolean(), revoke.ToString());
        Assert.Equal(tag, revoke.Json.GetProperty("session").GetProperty("tag").GetString());

        var exit = await holder.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exit == 125, $"coord lock should exit 125 (lost) once its session is revoked, got {exit}; output:\n{holder.Tail()}");
        Assert.Contains("cli session test", holder.Output, StringComparison.Ordinal);
        var again = await fixture.RunAsync("revoke", tag, "--session", "--reason", "cli session test");
        Assert.True(again.ExitCode == 0 && again.Stdout.Contains("nothing changed", StringComparison.Ordinal), again.ToString());
        var unknown = await fixture.RunAsync("revoke", tag == "000000000000" ? "000000000001" : "000000000000", "--session", "--reason", "none");
        Assert.True(unknown.ExitCode == 1 && unknown.Stderr.Contains("No session has the tag", StringComparison.Ordinal), unknown.ToString());
    }

    [Fact]
    public async Task Permits_let_that_many_commands_run_at_once_which_coord_locks_lists_and_a_semaphore_revoke_stops_them_all()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        string[] Holder(string which) => [.. fixture.Target, "lock", name, "--permits", "2", "--ttl", "6s", "--grace", "2s", "--", "sh", "-c", $"echo \"{which} holding token=$COORD_FENCING_TOKEN of $COORD_PERMITS\"; exec sleep 300"];
        await using var first = Coord.Start("coord lock --permits 2 (first)", Holder("first"));
        await using var second = Coord.Start("coord lock --permits 2 (second)", Holder("second"));
        await first.WaitForLineAsync("first holding token=[1-9][0-9]* of 2$", TimeSpan.FromSeconds(30));
        await second.WaitForLineAsync("second holding token=[1-9][0-9]* of 2$", TimeSpan.FromSeconds(30));

        var listed = await fixture.RunAsync("locks", "--semaphore", "--prefix", name, "--json");
        var semaphore = Assert.Single(listed.Json.GetProperty("locks").EnumerateArray());
        Assert.True(semaphore.GetProperty("name").GetString() == name && semaphore.GetProperty("maxCount").GetInt32() == 2 && semaphore.GetProperty("holders").GetArrayLength() == 2, listed.ToString());
        var table = await fixture.RunAsync("locks", "--semaphore", "--prefix", name);
        Assert.True(table.ExitCode == 0 && table.Stdout.Split('\n').Count(l => l.Contains("2/2", StringComparison.Ordinal)) == 2, table.ToString());
        Assert.Empty((await fixture.RunAsync("locks", "--reader-writer", "--prefix", name, "--json")).Json.GetProperty("locks").EnumerateArray());
        Assert.Equal(64, (await fixture.RunAsync("locks", "--semaphore", "--reader-writer")).ExitCode);

        var third = await fixture.RunAsync("lock", name, "-n", "2", "--timeout", "1s", "--", "true");
        Assert.True(third.ExitCode == 124 && third.Stderr.Contains($"A permit of semaphore '{name}' (2 permits) was not acquired within 1 s", StringComparison.Ordinal), third.ToString());

        var revoke = await fixture.RunAsync("revoke", name, "--semaphore", "--reason", "cli permits test", "--json");
        Assert.True(revoke.ExitCode == 0 && revoke.Json.GetProperty("revoked").GetArrayLength() == 2, revoke.ToString());
        Assert.Equal(125, await first.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(125, await second.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("was lost (revoked: cli permits test)", first.Output, StringComparison.Ordinal);

        Assert.Equal(64, (await fixture.RunAsync("lock", name, "--permits", "0", "--", "true")).ExitCode);
        var notNumber = await fixture.RunAsync("lock", name, "--permits", "abc", "--", "true");
        Assert.True(notNumber.ExitCode == 64 && notNumber.Stderr.Contains("abc", StringComparison.Ordinal), notNumber.ToString());
    }

    [Fact]
    public async Task Revoke_takes_a_semaphore_or_a_reader_writer_lock_by_its_flag_and_reports_what_it_took()
    {
        foreach (var flag in new[] { "--semaphore", "--reader-writer" })
        {
            var revoke = await fixture.RunAsync("revoke", $"cli/{Guid.NewGuid():N}", flag, "--reason", "cli test", "--json");
            Assert.True(revoke.ExitCode == 0, revoke.ToString());
            Assert.Equal(0, revoke.Json.GetProperty("revoked").GetArrayLength());
            Assert.True(revoke.Json.GetProperty("lastFencingToken").GetInt64() >= 0, revoke.ToString());
        }
    }

    [Fact]
    public async Task Interrupting_coord_stops_the_command_and_releases_the_lock_at_once()
    {
        var name = $"cli/{Guid.NewGuid():N}";
        await using var holder = Coord.Start("coord lock", [.. fixture.Target, "lock", name, "--ttl", "30s", "--", "sh", "-c", "echo holding; exec sleep 300"]);
        await holder.WaitForLineAsync("holding", TimeSpan.FromSeconds(30));

        // SIGTERM, as a service manager stops it (Ctrl+C also reaches the command through the terminal's process group).
        holder.Signal(Signals.Term);
        var exit = await holder.WaitForExitAsync(TimeSpan.FromSeconds(20));
        Assert.True(exit == 128 + Signals.Term, $"coord should return the status of its command stopped by SIGTERM, got {exit}; output:\n{holder.Tail()}");

        // Released on the way out, not left to the 30 s lease: a lock of another client is granted at once.
        var next = await fixture.RunAsync("lock", name, "--timeout", "0", "--", "true");
        Assert.True(next.ExitCode == 0, $"the lock should be free right after coord exited; {next}");
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [GeneratedRegex(@"name=(?<name>\S+) token=(?<token>\d+)")]
    private static partial Regex TokenLine();
}
