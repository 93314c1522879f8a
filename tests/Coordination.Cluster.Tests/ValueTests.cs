using System.Collections.Concurrent;
using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.Grains.Sessions;
using Coordination.Grains.Values;
using Coordination.Replication.Hosting;
using Coordination.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Cluster.Tests;

/// <summary>Named values: compare-and-set on revisions, watches, ephemeral values bound to sessions, prefix listings, bounded state and bad input.</summary>
public sealed class ValueTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private static string NewName() => $"value/{Guid.NewGuid():N}";

    [Fact]
    public async Task Compare_and_set_succeeds_only_at_the_expected_revision()
    {
        var value = Cluster.NewClient().CreateValue(NewName());
        var created = await value.CompareAndSetAsync(0, "a");
        Assert.True(created.Succeeded);
        Assert.False((await value.CompareAndSetAsync(0, "again")).Succeeded, "create-if-absent succeeded on an existing value");

        var stale = await value.CompareAndSetAsync(created.Current.Revision + 1, "b");
        Assert.False(stale.Succeeded);
        Assert.Equal("a", stale.Current.Value);

        var swapped = await value.CompareAndSetAsync(created.Current.Revision, "b");
        Assert.True(swapped.Succeeded);
        Assert.True(swapped.Current.Revision > created.Current.Revision);
        Assert.False((await value.DeleteAsync(created.Current.Revision)).Succeeded, "a delete at an old revision succeeded");
        Assert.Equal("b", (await value.GetAsync()).Value);

        Assert.True((await value.DeleteAsync(swapped.Current.Revision)).Succeeded);
        var gone = await value.GetAsync();
        Assert.False(gone.Exists);
        Assert.False((await value.DeleteAsync()).Succeeded, "deleting nothing reported a delete");
        Assert.True((await value.CompareAndSetAsync(0, "c")).Succeeded, "create-if-absent failed after the delete");
    }

    [Fact]
    public async Task Concurrent_compare_and_set_increments_lose_no_update()
    {
        var name = NewName();
        await Cluster.NewClient().CreateValue(name).SetAsync("0");
        var clients = Enumerable.Range(0, 4).Select(_ => Cluster.NewClient().CreateValue(name)).ToList();
        await Task.WhenAll(clients.Select(v => Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                while (true)
                {
                    var current = await v.GetAsync();
                    if ((await v.CompareAndSetAsync(current.Revision, (int.Parse(current.Value!) + 1).ToString())).Succeeded)
                    {
                        break;
                    }
                }
            }
        })));
        Assert.Equal("40", (await clients[0].GetAsync()).Value);
    }

    [Fact]
    public async Task A_watch_sees_every_revision_once_and_in_order()
    {
        var name = NewName();
        var first = await Cluster.NewClient().CreateValue(name).SetAsync("start");
        using var stop = new CancellationTokenSource();
        var seen = new ConcurrentQueue<ValueEvent>();
        var watcher = Watch(Cluster.NewClient().CreateValue(name), first.Revision - 1, seen, stop.Token);

        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            var value = Cluster.NewClient().CreateValue(name);
            for (var i = 0; i < 10; i++)
            {
                await value.SetAsync($"w{w}-{i}");
            }
        }));
        await Task.WhenAll(writers);
        await Cluster.NewClient().CreateValue(name).DeleteAsync();
        var last = (await Cluster.NewClient().CreateValue(name).GetAsync()).Revision;
        await Eventually.Async(() => seen.LastOrDefault()?.Revision == last, TimeSpan.FromSeconds(10), $"the watcher to reach revision {last}");
        await stop.CancelAsync();
        await watcher;

        Assert.Equal(Enumerable.Range(0, (int)(last - first.Revision + 1)).Select(i => first.Revision + i), seen.Select(e => e.Revision));
        Assert.Equal(32, seen.Count);
        Assert.Equal(ValueEventKind.Deleted, seen.Last().Kind);
        Assert.Equal(30, seen.Where(e => e.Value?.StartsWith('w') == true).Select(e => e.Value).Distinct().Count());
    }

    [Fact]
    public async Task An_ephemeral_value_goes_never_early_and_within_the_bound_after_its_client_stops()
    {
        var name = NewName();
        var session = await TestSession.OpenAsync(Cluster.Grains);
        var requestId = Guid.NewGuid();
        var write = new ValueWrite(requestId, "instance-1", 0, session.Id, RequestNumbers.Of(session.Id, requestId));
        var set = await Eventually.Retry(() => Cluster.Grains.GetGrain<IValueGrain>(name).Write(write), TimeSpan.FromSeconds(10), "set the ephemeral value");
        Assert.True(set.Succeeded);
        Assert.Equal(session.Info.Tag, set.Current.SessionTag);

        using var stop = new CancellationTokenSource();
        var seen = new ConcurrentQueue<ValueEvent>();
        var watcher = Watch(Cluster.NewClient().CreateValue(name), set.Current.Revision, seen, stop.Token);
        await session.StopKeepAliveAsync();
        var lastSend = session.LastAckedSend;
        await Eventually.Async(() => !seen.IsEmpty, TimeSpan.FromSeconds(15), "the ephemeral value to be deleted after its session stopped");
        var goneAfter = DateTime.UtcNow - lastSend;
        await stop.CancelAsync();
        await watcher;

        Assert.Equal(ValueEventKind.Deleted, Assert.Single(seen).Kind);
        Assert.True(goneAfter >= CoordinationCluster.Ttl, $"deleted {goneAfter.TotalSeconds:0.000} s after the last acknowledged keepalive: earlier than the TTL");
        Assert.True(goneAfter < CoordinationCluster.Ttl + TimeSpan.FromSeconds(2), $"deleted {goneAfter.TotalSeconds:0.000} s after the last keepalive: later than TTL + 2 s");
        Assert.False((await Cluster.NewClient().CreateValue(name).GetAsync()).Exists);
    }

    /// <summary>
    /// A value bound to a session whose state is gone (as an audited re-initialisation of the session's partition
    /// leaves it): its owner may still believe in its session, so the value stays one more TTL, as a lock would, and
    /// goes by its grain's timer, with nobody calling.
    /// </summary>
    [Fact]
    public async Task An_ephemeral_value_whose_session_state_vanished_stays_a_whole_ttl_then_goes()
    {
        var name = NewName();
        var ttl = CoordinationCluster.Ttl;
        var write = new ValueWrite(Guid.NewGuid(), "leader-1", 0, SessionIds.NewId(), 1);
        var silo = Cluster.Cluster.GetActiveSilos().First().SiloAddress;
        var register = Cluster.Cluster.GetSiloServiceProvider(silo).GetRequiredService<RegisterFactory>().Create<ValueRecord>(new Holding(HoldingKind.Value, name).RegisterKey);
        var set = await Eventually.Retry(
            () => register.ExecuteAsync((r, c) => ValueStateMachine.Write(r ?? ValueRecord.Fresh(c.TokenFloor), name, write, ttl, c.TokenEpoch, new ProposedRevisions())),
            TimeSpan.FromSeconds(10),
            "write a value bound to a session that does not exist");
        Assert.True(set.Succeeded);

        var start = DateTime.UtcNow;
        var value = Cluster.NewClient().CreateValue(name);
        Assert.Equal("leader-1", (await value.GetAsync()).Value); // activates its grain, which finds the session gone
        await Eventually.Async(
            () => Cluster.AllSlots().Any(s => s.Key == "v/" + name && s.Value is ValueRecord { Binding.Delay: not null }),
            TimeSpan.FromSeconds(10),
            "the value's grain to find its session gone and start the delay");
        await Eventually.Async(async () => !(await value.GetAsync()).Exists, TimeSpan.FromSeconds(15), "the value to be deleted when the delay ends");
        var goneAfter = DateTime.UtcNow - start;
        Assert.True(goneAfter >= ttl, $"deleted {goneAfter.TotalSeconds:0.000} s after its session was found gone: earlier than the TTL");
    }

    [Fact]
    public async Task Closing_a_session_deletes_its_ephemeral_values_at_once_and_a_persistent_set_unbinds()
    {
        var client = Cluster.NewClient();
        var session = await client.OpenSessionAsync();
        var ephemeral = NewName();
        var persisted = NewName();
        Assert.True((await session.CreateValue(ephemeral).SetEphemeralAsync("up")).Succeeded);
        Assert.Equal(session.Tag, (await client.CreateValue(ephemeral).GetAsync()).SessionTag);
        Assert.True((await session.CreateValue(persisted).SetEphemeralAsync("up", 0)).Succeeded);
        Assert.Equal("kept", (await client.CreateValue(persisted).SetAsync("kept")).Value);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await session.CloseAsync();
        await Eventually.Async(async () => !(await client.CreateValue(ephemeral).GetAsync()).Exists, TimeSpan.FromSeconds(10), "the ephemeral value to go with its closed session");
        Assert.True(watch.Elapsed < CoordinationCluster.Ttl, $"deleted {watch.Elapsed} after the close, not at once");
        var kept = await client.CreateValue(persisted).GetAsync();
        Assert.Equal(("kept", null), (kept.Value, kept.SessionTag));
        await Assert.ThrowsAsync<SessionExpiredException>(() => session.CreateValue(NewName()).SetEphemeralAsync("late"));
    }

    [Fact]
    public async Task A_deleted_value_nobody_watches_leaves_no_register_and_bad_input_creates_nothing()
    {
        var client = Cluster.NewClient();
        var name = NewName();
        var value = client.CreateValue(name);
        await value.SetAsync("x");
        await value.DeleteAsync();
        // A deleted value is kept 30 s after its last change (a client's retry must still find it), then retires.
        await Eventually.Async(() => !Cluster.AllSlots().Any(s => s.Key == "v/" + name), TimeSpan.FromSeconds(60), "the deleted value's register to retire");
        var revision = (await value.GetAsync()).Revision;
        Assert.True((await value.CompareAndSetAsync(0, "again")).Current.Revision > revision, "a value used again after its register retired did not continue its revisions");

        var tooBig = NewName();
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => client.CreateValue(tooBig).SetAsync(new string('x', 16 * 1024 + 1)));
        await Assert.ThrowsAsync<InvalidNameException>(() => Cluster.Grains.GetGrain<IValueGrain>("bad\nname").Get());
        Assert.Throws<InvalidNameException>(() => client.CreateValue(""));
        Assert.DoesNotContain(Cluster.AllSlots(), s => s.Key == "v/" + tooBig);
    }

    [Fact]
    public async Task A_prefix_listing_pages_through_exactly_the_values_that_exist_under_it()
    {
        var root = $"{NewName()}/";
        var client = Cluster.NewClient();
        string[] persistent = [$"{root}svc", .. Enumerable.Range(0, 5).Select(i => $"{root}svc/{i}")];
        foreach (var name in persistent.Append($"{root}svd").Append($"{root}other"))
        {
            await client.CreateValue(name).SetAsync($"at {name}");
        }

        var deleted = client.CreateValue($"{root}svc/deleted");
        await deleted.SetAsync("soon gone");
        await deleted.DeleteAsync();
        var session = await client.OpenSessionAsync();
        var ephemeral = $"{root}svc/ephemeral";
        await session.CreateValue(ephemeral).SetEphemeralAsync("while it lives");

        var listed = await ListAsync(client, $"{root}svc", pageSize: 2);
        Assert.Equal([.. persistent, ephemeral], listed.Select(v => v.Name)); // "svc" itself, then "svc/0".."svc/4", "svc/ephemeral"; never "svd", "other" or the deleted one
        Assert.All(listed.Where(v => v.Name != ephemeral), v => Assert.Equal(($"at {v.Name}", null), (v.Value, v.SessionTag)));
        var bound = Assert.Single(listed, v => v.Name == ephemeral);
        Assert.Equal(("while it lives", session.Tag), (bound.Value, bound.SessionTag));
        Assert.Equal(persistent.Length + 3, (await ListAsync(client, root, pageSize: 1000)).Count);

        var listing = Cluster.Grains.GetGrain<IClusterListingGrain>(0);
        var first = await listing.FindValues($"{root}svc", null, 2);
        Assert.Equal(persistent.Take(2), first.Values.Select(v => v.Name));
        Assert.Equal(persistent[1], first.Next);
        Assert.Equal([$"{root}svc/4", ephemeral], (await listing.FindValues($"{root}svc", $"{root}svc/3", 10)).Values.Select(v => v.Name));

        await session.CloseAsync();
        await Eventually.Async(async () => !(await ListAsync(client, $"{root}svc", 100)).Any(v => v.Name == ephemeral), TimeSpan.FromSeconds(10), "the ephemeral value to leave the listing with its closed session");
        Assert.Equal(persistent, (await ListAsync(client, $"{root}svc", 100)).Select(v => v.Name));

        await Assert.ThrowsAsync<CoordinationArgumentException>(() => ListAsync(client, "bad\u0001prefix", 10));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => ListAsync(client, root, 0));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => ListAsync(client, root, 1001));
    }

    private static async Task<List<VersionedValue>> ListAsync(ICoordinationClient client, string prefix, int pageSize)
    {
        var values = new List<VersionedValue>();
        await foreach (var value in client.ListValuesAsync(prefix, pageSize))
        {
            values.Add(value);
        }

        return values;
    }

    internal static Task Watch(CoordinationValue value, long after, ConcurrentQueue<ValueEvent> seen, CancellationToken stop) => Task.Run(async () =>
    {
        try
        {
            await foreach (var e in value.WatchAsync(after, stop))
            {
                seen.Enqueue(e);
            }
        }
        catch (OperationCanceledException)
        {
            // Done.
        }
    });
}
