using System.Collections.Concurrent;
using System.Diagnostics;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>The semaphore and the reader-writer lock on a live cluster: recorded histories, writer preference, dead clients.</summary>
public sealed class SharedLockTests(ClusterFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private CoordinationCluster Cluster => fixture.Cluster;

    private IGrainFactory Grains => Cluster.Grains;

    /// <summary>One critical section as the client saw it: entered and left on one logical clock shared by all clients.</summary>
    private sealed record Section(int Client, bool Write, long Token, long Entered, long Left);

    [Fact]
    public async Task Readers_overlap_and_writers_are_exclusive_under_a_recorded_history_check()
    {
        var name = $"rw-history/{Guid.NewGuid():N}";
        var clock = 0L;
        var history = new ConcurrentBag<Section>();
        await Task.WhenAll(Enumerable.Range(0, 5).Select(c => Task.Run(async () =>
        {
            var rw = Cluster.NewClient().CreateReaderWriterLock(name);
            var random = new Random(c);
            for (var i = 0; i < 12; i++)
            {
                var write = random.Next(3) == 0;
                await using var handle = write ? await rw.AcquireWriteLockAsync(TimeSpan.FromSeconds(30)) : await rw.AcquireReadLockAsync(TimeSpan.FromSeconds(30));
                var entered = Interlocked.Increment(ref clock);
                await Task.Delay(random.Next(1, 15));
                history.Add(new Section(c, write, handle.FencingToken, entered, Interlocked.Increment(ref clock)));
            }
        })));

        var sections = history.OrderBy(s => s.Entered).ToList();
        static bool Overlap(Section a, Section b) => a.Entered < b.Left && b.Entered < a.Left;
        var writerOverlaps = sections.Where(w => w.Write).SelectMany(w => sections.Where(o => o != w && Overlap(w, o)).Select(o => (w, o))).ToList();
        Assert.True(writerOverlaps.Count == 0, $"writers overlapped others: {string.Join("; ", writerOverlaps.Take(5))}");
        var readerOverlaps = sections.Where(r => !r.Write).Sum(r => sections.Count(o => o != r && !o.Write && Overlap(r, o)));
        output.WriteLine($"{sections.Count} sections, {sections.Count(s => s.Write)} writes, {readerOverlaps / 2} overlapping reader pairs");
        Assert.True(readerOverlaps > 0, "no two readers ever held the lock at once");

        // Fencing: a writer's token is above every grant that ended before it began; a reader's is that of the last writer before it (or later).
        foreach (var s in sections)
        {
            var before = sections.Where(o => o.Left < s.Entered).ToList();
            if (s.Write)
            {
                Assert.True(before.All(o => o.Token < s.Token), $"writer {s} has a token not above an earlier grant's");
            }
            else if (before.LastOrDefault(o => o.Write) is { } lastWriter)
            {
                Assert.True(s.Token >= lastWriter.Token, $"reader {s} carries a token below the last writer's {lastWriter.Token}");
            }
        }
    }

    [Fact]
    public async Task A_writer_is_granted_within_a_bound_while_readers_keep_arriving()
    {
        var name = $"rw-preference/{Guid.NewGuid():N}";
        var hold = TimeSpan.FromMilliseconds(400);
        using var stop = new CancellationTokenSource();
        var reads = 0;
        // Each reader asks for its next read lock while it still holds the current one: without writer preference
        // the lock would be read-held without a gap for as long as the readers run.
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            var rw = Cluster.NewClient().CreateReaderWriterLock(name);
            var current = await rw.AcquireReadLockAsync(TimeSpan.FromSeconds(30));
            while (!stop.IsCancellationRequested)
            {
                var next = rw.AcquireReadLockAsync(TimeSpan.FromSeconds(30)).AsTask();
                await Task.Delay(hold);
                await current.DisposeAsync();
                Interlocked.Increment(ref reads);
                current = await next;
            }

            await current.DisposeAsync();
        })).ToList();
        await Eventually.Async(() => Volatile.Read(ref reads) >= 4, TimeSpan.FromSeconds(20), "the readers to keep the lock read-held, each overlapping its next read with its current one");

        var writer = Cluster.NewClient().CreateReaderWriterLock(name);
        var watch = Stopwatch.StartNew();
        await using (var write = await writer.TryAcquireWriteLockAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.NotNull(write);
            output.WriteLine($"writer granted after {watch.Elapsed} while {reads} reads were taken");
            // Bound: each reader's current and next read (granted before the writer queued) end within two holds.
            var bound = (hold * 2) + TimeSpan.FromSeconds(2);
            Assert.True(watch.Elapsed < bound, $"the writer waited {watch.Elapsed}, more than the read holds under way allow ({bound})");
            Assert.Equal(ReaderWriterAccess.Write, Assert.Single((await writer.GetInfoAsync()).Holders).Access);
        }

        var after = Volatile.Read(ref reads);
        await Eventually.Async(() => Volatile.Read(ref reads) > after, TimeSpan.FromSeconds(10), "the readers to go on after the writer");
        await stop.CancelAsync();
        await Task.WhenAll(readers);
    }

    [Fact]
    public async Task A_dead_clients_permits_return_never_early_and_within_its_ttl_bound()
    {
        var name = $"semaphore-dead/{Guid.NewGuid():N}";
        var semaphore = Grains.GetGrain<ISemaphoreGrain>(name);
        var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        Task<long> Acquire(TestSession s, TimeSpan timeout)
        {
            var id = Guid.NewGuid();
            return LockCalls.UntilGrantedAsync(park => semaphore.Acquire(new SemaphoreAcquireRequest(s.Id, id, 2, AcquireMode.Wait, park, null, RequestNumbers.Of(s.Id, id))), timeout, $"no permit of {name} within {timeout}");
        }

        var held = new[] { await Acquire(a, TimeSpan.FromSeconds(10)), await Acquire(a, TimeSpan.FromSeconds(10)) };
        var waitB = Acquire(b, TimeSpan.FromSeconds(30));
        await Eventually.Async(async () => (await semaphore.GetInfo()).Waiters.Length == 1, TimeSpan.FromSeconds(10), "b waiting for a permit");

        await a.StopKeepAliveAsync();
        var lastSend = a.LastAckedSend;
        var token = await waitB;
        var freedAfter = DateTime.UtcNow - lastSend;
        Assert.True(token > held.Max());
        Assert.True(freedAfter >= CoordinationCluster.Ttl, $"a permit returned {freedAfter.TotalSeconds:0.000} s after the last acknowledged keepalive: earlier than the {CoordinationCluster.Ttl.TotalSeconds} s TTL");
        Assert.True(freedAfter < CoordinationCluster.Ttl + TimeSpan.FromSeconds(2), $"a permit returned {freedAfter.TotalSeconds:0.000} s after the last keepalive: later than TTL + 2 s");
        var info = await semaphore.GetInfo();
        Assert.Equal([b.Info.Tag], info.Holders.Select(h => h.SessionTag));
    }

    [Fact]
    public async Task Bad_input_at_the_grains_is_a_typed_error_and_creates_nothing()
    {
        await using var s = await TestSession.OpenAsync(Grains);
        var id = Guid.NewGuid();
        var name = $"semaphore-bad/{Guid.NewGuid():N}";
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.GetGrain<ISemaphoreGrain>(name).Acquire(new SemaphoreAcquireRequest(s.Id, id, 0, AcquireMode.Wait, TimeSpan.Zero, null, RequestNumbers.Of(s.Id, id))));
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.GetGrain<ISemaphoreGrain>(name).Acquire(new SemaphoreAcquireRequest(s.Id, id, SemaphoreLimits.MaxPermits + 1, AcquireMode.Wait, TimeSpan.Zero, null, RequestNumbers.Of(s.Id, id))));
        await Assert.ThrowsAsync<InvalidNameException>(() => Grains.GetGrain<ISemaphoreGrain>("bad\u0001name").GetInfo());
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.GetGrain<IReaderWriterLockGrain>(name).Acquire(new ReaderWriterAcquireRequest(s.Id, id, (ReaderWriterAccess)7, AcquireMode.Wait, TimeSpan.Zero, null, RequestNumbers.Of(s.Id, id))));
        await Assert.ThrowsAsync<LockNotHeldException>(() => Grains.GetGrain<IReaderWriterLockGrain>(name).Upgrade(new UpgradeRequest(s.Id, id, 5, AcquireMode.Wait, TimeSpan.Zero)));
        var info = await Grains.GetGrain<ISemaphoreGrain>(name).GetInfo();
        Assert.Equal(0, info.MaxCount);
        Assert.Empty(info.Holders);
    }
}
