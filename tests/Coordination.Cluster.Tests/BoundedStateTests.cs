using Coordination.Cluster.Tests.Infrastructure;
using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Grains.Sessions;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>
/// What the cluster keeps is what is held, waited for or alive now: a lock per entity through one shared
/// session leaves nothing behind, bad input creates nothing, and the bounds that replace "remember the newest
/// few" (late requests, revoke notices) hold however many came since.
/// </summary>
public sealed class BoundedStateTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private IGrainFactory Grains => Cluster.Grains;

    [Fact]
    public async Task A_lock_per_entity_through_one_session_leaves_only_what_is_held()
    {
        var client = Cluster.NewClient();
        var run = Guid.NewGuid().ToString("N")[..8];
        await using (var first = await client.CreateLock($"entity/{run}/warm").AcquireAsync(TimeSpan.FromSeconds(10)))
        {
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < 400; i += 8)
            {
                await using var handle = await client.CreateLock($"entity/{run}/{i}").AcquireAsync(TimeSpan.FromSeconds(10));
            }
        })));
        var management = Grains.GetGrain<IManagementGrain>(0);
        async Task<List<string>> ActivationsAsync() =>
            [.. (await management.GetDetailedGrainStatistics())
                .Select(g => g.GrainId.Key.ToString() ?? string.Empty)
                .Where(k => k.StartsWith($"entity/{run}/", StringComparison.Ordinal))];
        var afterChurn = (await ActivationsAsync()).Count;
        var held = await client.CreateLock($"entity/{run}/held").AcquireAsync(TimeSpan.FromSeconds(10));

        // Every released name's register is deleted (its tombstone dropped once every replica took it), and the
        // session keeps one attachment: the held lock.
        try
        {
            await Eventually.Async(
                () => Task.FromResult(Cluster.AllSlots().Where(s => s.Key.StartsWith($"l/entity/{run}/", StringComparison.Ordinal)).GroupBy(s => s.Key).Select(g => (g.Key, Copies: g.Count())).ToList() is [var only] && only.Key == $"l/entity/{run}/held" && only.Copies >= 2),
                TimeSpan.FromSeconds(30),
                "only the held lock's register to remain, on a majority of its three replicas");
        }
        catch (TimeoutException ex)
        {
            var left = Cluster.AllSlots().Where(s => s.Key.StartsWith($"l/entity/{run}/", StringComparison.Ordinal)).GroupBy(s => s.Key).ToList();
            throw new TimeoutException($"{ex.Message} {left.Count} registers left, e.g. {string.Join("; ", left.Take(5).Select(g => $"{g.Key} x{g.Count()} {Describe(g.First().Value)}"))}", ex);
        }
        var attached = Cluster.NewestValues().Select(s => s.Value).OfType<SessionShard>().SelectMany(s => s.Attached).Distinct().ToList();
        Assert.Equal([Holding.Lock($"entity/{run}/held")], attached.Where(a => a.Holding.Name.StartsWith($"entity/{run}/", StringComparison.Ordinal)).Select(a => a.Holding));

        // Nor do the silos keep an activation per name used: a deleted lock's activation goes after the retention (1 s here).
        Assert.True(afterChurn > 1, $"the released names' activations were there to begin with ({afterChurn})");
        await Eventually.Async(
            async () => await ActivationsAsync() is [var only] && only == $"entity/{run}/held",
            TimeSpan.FromSeconds(30),
            "only the held lock's activation to remain");
        await held.DisposeAsync();
        await client.DisposeAsync();
    }

    [Fact]
    public async Task A_held_lock_forgets_its_earlier_holders_let_go_requests_at_the_sweepers_ping()
    {
        // An earlier holder's request stays in the register, refusing late copies, until its session has let it go; the
        // forgetting rides on the next commit, and a lock held for long has none: the sweeper's ping (Recover) is one.
        await using var first = Cluster.NewClient();
        await using var second = Cluster.NewClient();
        var run = Guid.NewGuid().ToString("N")[..8];
        var held = new List<IAsyncDisposable>();
        try
        {
            (string Name, FinishedRequest Request)? arranged = null;
            for (var attempt = 0; attempt < 10 && arranged is null; attempt++)
            {
                var candidate = $"entity/{run}/{attempt}";
                await (await first.CreateLock(candidate).AcquireAsync(TimeSpan.FromSeconds(10))).DisposeAsync();
                held.Add(await second.CreateLock(candidate).AcquireAsync(TimeSpan.FromSeconds(10)));

                // The first session's detach leaves on a 250 ms grid: on a slow machine the second acquire may come after
                // it and forget the request itself. Then there is nothing to show here; try another name.
                if (LockOf(candidate)?.Finished is [var request])
                {
                    arranged = (candidate, request);
                }
            }

            Assert.True(arranged is not null, "in ten tries, the second session's acquire always came after the first session had let its request go");
            var (name, finished) = arranged.Value;
            try
            {
                await Eventually.Async(
                    async () =>
                    {
                        await Grains.Reference<ILockGrainInternal>(name).Recover();
                        return LockOf(name)?.Finished.IsEmpty == true;
                    },
                    TimeSpan.FromSeconds(10),
                    "a ping of the held lock to forget the earlier holder's request once its session let it go");
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException($"{ex.Message} The register: {Describe(LockOf(name))}.", ex);
            }

            // Forgotten only after the session let it go: from now on the session refuses a late copy of it.
            var shard = Cluster.NewestValues().Find(v => v.Key == RegisterKeys.SessionShard(finished.SessionId, SessionShards.Of(Holding.Lock(name)))).Value as SessionShard;
            Assert.True(
                shard is not null && (shard.Settled.Contains(finished.Sequence) || shard.SettledThrough >= finished.Sequence),
                $"the first session's shard does not refuse request {finished.Sequence}: {(shard is null ? "no shard" : $"settled {string.Join(",", shard.Settled)} through {shard.SettledThrough}")}");
        }
        finally
        {
            foreach (var handle in held)
            {
                await handle.DisposeAsync();
            }
        }
    }

    /// <summary>The lock's register as its newest copy says, or null when it has none.</summary>
    private LockRecord? LockOf(string name) => Cluster.NewestValues().Find(v => v.Key == Holding.Lock(name).RegisterKey).Value as LockRecord;

    [Fact]
    public async Task Bad_input_creates_no_replica_slot()
    {
        await using var s = await TestSession.OpenAsync(Grains);
        var before = await QuiescentKeysAsync();
        var run = Guid.NewGuid().ToString("N")[..8];
        var unknownSession = "bogus" + run;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < 10_000; i += 16)
            {
                var name = $"bad/{run}/{i}";
                Task call = (i % 4) switch
                {
                    0 => Grains.Lock(name).Acquire(new AcquireRequest($"{unknownSession}{i}", Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: 1)),
                    1 => Grains.Lock(name).GetInfo(),
                    2 => Grains.Lock($"bad\u0001{i}").Acquire(new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: 1)),
                    _ => Grains.GetGrain<ISessionGrain>($"{unknownSession}{i}").GetInfo(),
                };
                try
                {
                    await call;
                }
                catch (CoordinationException)
                {
                    // Refused, as it must be.
                }
                catch (ArgumentException)
                {
                    // Bad names are argument errors.
                }
            }
        })));

        Assert.Empty(Cluster.AllSlots().Where(x => x.Key.Contains(run, StringComparison.Ordinal)).Select(x => x.Key).Distinct());

        // By key, not by copy: a register that two of three members held (a thrifty round's) may reach the third since
        // (a hedge, the collector's write-back), which is no new state.
        List<string> Gained() => [.. Cluster.AllSlots().Select(x => x.Key).Distinct().Where(key => !before.Contains(key))];
        try
        {
            await Eventually.Async(() => Gained().Count == 0, TimeSpan.FromSeconds(20), $"the replicas to hold no register key beyond the {before.Count} they held before");
        }
        catch (TimeoutException ex)
        {
            // Which keys appeared is what a failure must tell.
            throw new TimeoutException($"{ex.Message} Keys gained: {string.Join(", ", Gained().Take(20))}", ex);
        }
    }

    /// <summary>
    /// A request whose number the session has settled is refused however many came since: the lock forgot it
    /// long ago (its register was deleted after every release), and the session refuses it. Before request
    /// numbers, a lock remembered the newest 8 finished requests per session and granted the 9th-oldest again.
    /// </summary>
    [Fact]
    public async Task A_late_copy_of_an_old_request_is_refused_however_many_came_since()
    {
        await using var s = await TestSession.OpenAsync(Grains);
        var name = $"stale/{Guid.NewGuid():N}";
        var old = Guid.NewGuid();
        var token = await Grains.AcquireAsync(name, s.Id, old, TimeSpan.FromSeconds(10));
        await Grains.ReleaseAsync(name, s.Id, old, token);
        for (var i = 0; i < 12; i++)
        {
            var id = Guid.NewGuid();
            await Grains.ReleaseAsync(name, s.Id, id, await Grains.AcquireAsync(name, s.Id, id, TimeSpan.FromSeconds(10)));
        }

        var cancelled = Guid.NewGuid();
        Assert.Equal(CancelOutcome.NotFound, await Grains.Lock(name).Cancel(s.Id, cancelled, RequestNumbers.Of(s.Id, cancelled)));

        foreach (var late in new[] { old, cancelled })
        {
            var error = await Assert.ThrowsAsync<RequestFinishedException>(() =>
                Grains.Lock(name).Acquire(new AcquireRequest(s.Id, late, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, late))));
            Assert.Equal(late, error.RequestId);
        }

        Assert.Null((await Grains.InfoAsync(name)).Holder);
    }

    /// <summary>A revoke whose holder has not acknowledged the notices before it is refused, never dropped; after a keepalive it goes through.</summary>
    [Fact]
    public async Task A_revoke_notice_is_never_dropped()
    {
        // Kept alive by keepalives that acknowledge nothing, so the notices pile up.
        await using var s = await TestSession.OpenAsync(Grains);
        var run = Guid.NewGuid().ToString("N")[..8];
        var names = Enumerable.Range(0, SessionStateMachine.MaxNotices + 1).Select(i => $"revoke/{run}/{i}").ToList();
        foreach (var name in names)
        {
            await Grains.AcquireAsync(name, s.Id, Guid.NewGuid(), TimeSpan.FromSeconds(10));
        }

        for (var i = 0; i < SessionStateMachine.MaxNotices; i++)
        {
            Assert.NotNull((await Grains.Lock(names[i]).Revoke("maintenance")).Revoked);
        }

        await Assert.ThrowsAsync<RevokeRefusedException>(() => Grains.Lock(names[^1]).Revoke("maintenance"));
        Assert.NotNull((await Grains.InfoAsync(names[^1])).Holder);

        var ack = await s.Grain.KeepAlive(0);
        Assert.Equal(SessionStateMachine.MaxNotices, ack.Notices.Length);
        await s.Grain.KeepAlive(ack.Notices.Max(n => n.Sequence));
        Assert.NotNull((await Grains.Lock(names[^1]).Revoke("maintenance")).Revoked);
        Assert.Contains((await s.Grain.KeepAlive(0)).Notices, n => n.LockName == names[^1]);
    }

    private static string Describe(object? value) => value switch
    {
        null => "tombstone",
        LockRecord l => $"holder={l.Holder?.Sequence} waiters={l.Waiters.Count} finished={l.Finished.Count} delay={l.Delay is not null}",
        _ => value.GetType().Name,
    };

    /// <summary>The register keys the replicas hold once their number stops changing (tombstones dropped, sessions ended).</summary>
    private async Task<HashSet<string>> QuiescentKeysAsync()
    {
        HashSet<string> Keys() => [.. Cluster.AllSlots().Select(x => x.Key)];
        var last = -1;
        var keys = Keys();
        await Eventually.Async(
            async () =>
            {
                (last, keys) = (keys.Count, Keys());
                await Task.Delay(TimeSpan.FromMilliseconds(400)); // allowed: a sampling period between two counts, not a wait for a state
                return last == keys.Count;
            },
            TimeSpan.FromSeconds(30),
            "the replicas' register keys to stop changing");
        return keys;
    }
}
