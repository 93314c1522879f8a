using System.Text.Json;
using Coordination.TestKit;

namespace Coordination.Cli.Tests;

/// <summary>
/// Values as etcdctl's users script them: put, get, del with a compare on revisions and an exit status to branch on,
/// a watch that prints every change until Ctrl+C, and listings narrowed by a name prefix (values, locks, elections).
/// </summary>
[Collection(CliClusterCollection.Name)]
public sealed class ValueTests(CliCluster fixture)
{
    private const int SigInt = 2;

    [Fact]
    public async Task Put_get_and_del_compare_on_revisions_and_exit_1_when_a_value_is_missing_or_moved()
    {
        var name = $"cli/values/{Guid.NewGuid():N}";
        var missing = await fixture.RunAsync("get", name);
        Assert.True(missing.ExitCode == 1 && missing.Stderr.Contains("not-found", StringComparison.Ordinal) && missing.Stdout.Length == 0, missing.ToString());

        var created = await fixture.RunAsync("put", name, "blue", "--if-revision", "0", "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        var revision = created.Json.GetProperty("revision").GetInt64();
        var again = await fixture.RunAsync("put", name, "red", "--if-revision", "0");
        Assert.True(again.ExitCode == 1 && again.Stderr.Contains($"revision-mismatch: Value '{name}' was not set: it is at revision {revision}", StringComparison.Ordinal), again.ToString());

        var read = await fixture.RunAsync("get", name);
        Assert.True(read.ExitCode == 0 && read.Stdout == "blue" + Environment.NewLine, read.ToString());
        var json = await fixture.RunAsync("get", name, "--json");
        Assert.Equal(("blue", revision, JsonValueKind.Null), (json.Json.GetProperty("value").GetString(), json.Json.GetProperty("revision").GetInt64(), json.Json.GetProperty("sessionTag").ValueKind));

        var replaced = await fixture.RunAsync("put", name, "green", "--json");
        Assert.True(replaced.ExitCode == 0 && replaced.Json.GetProperty("revision").GetInt64() > revision, replaced.ToString());
        var stale = await fixture.RunAsync("del", name, "--if-revision", revision.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(stale.ExitCode == 1 && stale.Stderr.Contains("was not deleted", StringComparison.Ordinal), stale.ToString());
        Assert.Equal("green", (await fixture.RunAsync("get", name)).Stdout.Trim());

        var deleted = await fixture.RunAsync("del", name);
        Assert.True(deleted.ExitCode == 0 && deleted.Stdout.Contains("deleted at revision", StringComparison.Ordinal), deleted.ToString());
        Assert.Equal(1, (await fixture.RunAsync("get", name)).ExitCode);
        var nothing = await fixture.RunAsync("del", name, "--json");
        Assert.True(nothing.ExitCode == 0 && !nothing.Json.GetProperty("deleted").GetBoolean(), nothing.ToString());

        Assert.Equal(64, (await fixture.RunAsync("put", "bad\u0001name", "x")).ExitCode);
        Assert.Equal(64, (await fixture.RunAsync("put", name, "x", "--if-revision", "-1")).ExitCode);
        Assert.Equal(64, (await fixture.RunAsync("get", name, "--limit", "5")).ExitCode); // paging needs --prefix
        Assert.Equal(64, (await fixture.RunAsync("del", name, "--if-revision", "0")).ExitCode); // "only if absent" deletes nothing
        Assert.Equal(1, (await fixture.RunAsync("get", name)).ExitCode); // none of the bad input wrote anything
    }

    [Fact]
    public async Task Watch_prints_the_current_value_then_every_change_in_order_until_ctrl_c()
    {
        var name = $"cli/values/{Guid.NewGuid():N}";
        Assert.Equal(0, (await fixture.RunAsync("put", name, "v1")).ExitCode);
        await using var watch = Coord.Start("coord watch", [.. fixture.Target, "--json", "watch", name]);
        var current = await watch.WaitForLineAsync("^{.*\"kind\":\"current\".*\"value\":\"v1\".*}$", TimeSpan.FromSeconds(30));
        var first = JsonDocument.Parse(current.Value).RootElement.GetProperty("revision").GetInt64();

        Assert.Equal(0, (await fixture.RunAsync("put", name, "v2")).ExitCode);
        Assert.Equal(0, (await fixture.RunAsync("del", name)).ExitCode);
        var set = await watch.WaitForLineAsync("^{.*\"kind\":\"set\".*\"value\":\"v2\".*}$", TimeSpan.FromSeconds(30));
        var gone = await watch.WaitForLineAsync("^{.*\"kind\":\"deleted\".*}$", TimeSpan.FromSeconds(30));
        var (setAt, goneAt) = (JsonDocument.Parse(set.Value).RootElement.GetProperty("revision").GetInt64(), JsonDocument.Parse(gone.Value).RootElement.GetProperty("revision").GetInt64());
        Assert.True(first < setAt && setAt < goneAt, $"revisions {first}, {setAt}, {goneAt} are not in order");

        watch.Signal(SigInt);
        Assert.Equal(0, await watch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.DoesNotContain("\"kind\":\"resync\"", watch.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_keep_holds_an_ephemeral_value_until_ctrl_c_deletes_it()
    {
        var name = $"cli/values/{Guid.NewGuid():N}";
        await using var keeper = Coord.Start("coord put --keep", [.. fixture.Target, "--json", "put", name, "10.0.0.5:8080", "--keep", "--ttl", "6s"]);
        var kept = JsonDocument.Parse((await keeper.WaitForLineAsync("^{.*\"kept\":true.*}$", TimeSpan.FromSeconds(30))).Value).RootElement;
        var read = await fixture.RunAsync("get", name, "--json");
        Assert.True(read.ExitCode == 0, read.ToString());
        Assert.Equal(("10.0.0.5:8080", kept.GetProperty("sessionTag").GetString()), (read.Json.GetProperty("value").GetString(), read.Json.GetProperty("sessionTag").GetString()));
        Assert.NotNull(kept.GetProperty("sessionTag").GetString());

        keeper.Signal(SigInt);
        Assert.Equal(0, await keeper.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        var gone = await fixture.RunAsync("get", name);
        Assert.True(gone.ExitCode == 1, $"Ctrl+C should delete the kept value at once; {gone}");

        Assert.Equal(64, (await fixture.RunAsync("put", name, "x", "--keep", "--if-revision", "0")).ExitCode);
        Assert.Equal(64, (await fixture.RunAsync("put", name, "x", "--ttl", "6s")).ExitCode);
    }

    [Fact]
    public async Task Prefix_listings_show_a_page_of_exactly_the_values_locks_and_elections_under_a_prefix()
    {
        var root = $"cli/prefix/{Guid.NewGuid():N}/";
        foreach (var leaf in new[] { "a", "b", "c" })
        {
            Assert.Equal(0, (await fixture.RunAsync("put", root + leaf, $"at {leaf}")).ExitCode);
        }

        Assert.Equal(0, (await fixture.RunAsync("put", root.TrimEnd('/') + "-next-door", "not under the prefix")).ExitCode);

        var page = await fixture.RunAsync("get", root, "--prefix", "--limit", "2", "--json");
        Assert.True(page.ExitCode == 0, page.ToString());
        Assert.Equal([root + "a", root + "b"], Names(page.Json, "values"));
        Assert.Equal(root + "b", page.Json.GetProperty("next").GetString());
        var rest = await fixture.RunAsync("get", root, "--prefix", "--after", root + "b", "--json");
        Assert.Equal([root + "c"], Names(rest.Json, "values"));
        Assert.Equal(JsonValueKind.Null, rest.Json.GetProperty("next").ValueKind);
        var table = await fixture.RunAsync("get", root, "--prefix", "--limit", "2");
        Assert.True(table.Stdout.Contains("at a", StringComparison.Ordinal) && table.Stderr.Contains($"more: coord get '{root}' --prefix --after '{root}b'", StringComparison.Ordinal), table.ToString());

        var api = await fixture.Cluster.DashboardJsonAsync($"/api/coordination/values?prefix={Uri.EscapeDataString(root)}");
        Assert.Equal([root + "a", root + "b", root + "c"], Names(api, "values"));

        await using var holder = Coord.Start("coord lock", [.. fixture.Target, "lock", root + "lock", "--ttl", "6s", "--", "sh", "-c", "echo holding; exec sleep 300"]);
        await holder.WaitForLineAsync("holding", TimeSpan.FromSeconds(30));
        await using var leader = Coord.Start("coord elect", [.. fixture.Target, "elect", root + "election", "leader-value"]);
        await leader.WaitForLineAsync("elected with term", TimeSpan.FromSeconds(30));

        var locks = await fixture.RunAsync("locks", "--prefix", root, "--json");
        Assert.Equal([root + "lock"], Names(locks.Json, "locks"));
        var elections = await fixture.RunAsync("elections", "--prefix", root, "--json");
        var election = Assert.Single(elections.Json.GetProperty("elections").EnumerateArray());
        Assert.Equal((root + "election", "leader-value"), (election.GetProperty("election").GetString(), election.GetProperty("leader").GetProperty("value").GetString()));

        Assert.Equal(64, (await fixture.RunAsync("get", "bad\u0001prefix", "--prefix")).ExitCode);
        Assert.Equal(64, (await fixture.RunAsync("locks", "--prefix", root, "--limit", "0")).ExitCode);
    }

    [Fact]
    public async Task Counters_and_latches_are_listed_by_prefix_in_json_and_as_tables_and_through_the_api()
    {
        var root = $"cli/listed/{Guid.NewGuid():N}/";
        await using (var client = await TestClusterClient.ConnectAsync(fixture.Cluster))
        {
            await client.Coordination.CreateAtomicLong(root + "orders").AddAsync(42);
            await client.Coordination.CreateLatch(root + "batch", 2).CountDownAsync();
        }

        var counters = await fixture.RunAsync("counters", "--prefix", root, "--json");
        var counter = Assert.Single(counters.Json.GetProperty("counters").EnumerateArray());
        Assert.True(counter.GetProperty("name").GetString() == root + "orders" && counter.GetProperty("value").GetInt64() == 42, counters.ToString());
        var latches = await fixture.RunAsync("latches", "--prefix", root, "--json");
        var listed = Assert.Single(latches.Json.GetProperty("latches").EnumerateArray());
        Assert.True(listed.GetProperty("count").GetInt32() == 1 && listed.GetProperty("initialCount").GetInt32() == 2, latches.ToString());
        var table = await fixture.RunAsync("latches", "--prefix", root);
        Assert.True(table.ExitCode == 0 && table.Stdout.Contains("counting", StringComparison.Ordinal), table.ToString());

        var api = await fixture.Cluster.DashboardJsonAsync($"/api/coordination/latches?prefix={Uri.EscapeDataString(root)}");
        var latch = Assert.Single(api.GetProperty("latches").EnumerateArray());
        Assert.Equal((root + "batch", 1, 2, false), (latch.GetProperty("name").GetString(), latch.GetProperty("count").GetInt32(), latch.GetProperty("initialCount").GetInt32(), latch.GetProperty("released").GetBoolean()));
        Assert.Equal([root + "orders"], Names(await fixture.Cluster.DashboardJsonAsync($"/api/coordination/counters?prefix={Uri.EscapeDataString(root)}"), "counters"));
    }

    private static List<string> Names(JsonElement page, string list) =>
        [.. page.GetProperty(list).EnumerateArray().Select(e => e.GetProperty("name").GetString()!)];
}
