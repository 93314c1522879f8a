using Coordination.Client;
using Coordination.Client.Lanes;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>
/// The client lane (lock acquires and releases on the client's own connection to its gateway silo) against a real
/// cluster: it carries the calls once connected and Orleans before; its errors are the grain's, as through Orleans; a
/// connection cut under a parked acquire, and a grant whose reply is lost on the lane, leave exactly the grant and queue
/// the same request through Orleans would.
/// The other client suites of this project take the lane too (their clients have it, as an application's do).
/// </summary>
public sealed class ClientLaneTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private CoordinationCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Lock_calls_go_through_Orleans_until_the_lane_is_connected_and_on_the_lane_after()
    {
        await using var client = Cluster.NewClient();
        var lane = LaneOf(client);
        var name = $"lane/{Guid.NewGuid():N}";

        // The first call finds no connection: it goes through Orleans, and has the lane asked for.
        await (await client.CreateLock(name).AcquireAsync(Wait)).DisposeAsync();
        Assert.True(lane.ThroughOrleans >= 1, $"the first calls went through Orleans ({lane.ThroughOrleans})");
        await ConnectedAsync(client);

        var (direct, orleans) = (lane.Direct, lane.ThroughOrleans);
        long lastToken = 0;
        for (var i = 0; i < 20; i++)
        {
            await using var handle = await client.CreateLock(name).AcquireAsync(Wait);
            Assert.True(handle.FencingToken > lastToken, $"token {handle.FencingToken} after {lastToken}");
            lastToken = handle.FencingToken;
        }

        Assert.Equal(40, lane.Direct - direct);
        Assert.Equal(orleans, lane.ThroughOrleans);
        var info = await client.CreateLock(name).GetInfoAsync();
        Assert.Null(info.Holder);
        Assert.Empty(info.Waiters);
    }

    [Fact]
    public async Task Errors_on_the_lane_are_the_grains_errors_as_through_Orleans()
    {
        await using var client = Cluster.NewClient();
        var lane = LaneOf(client);
        var session = await client.OpenSessionAsync();
        await ConnectedAsync(client);
        var name = $"lane/{Guid.NewGuid():N}";
        var grain = Cluster.Grains.GetGrain<ILockGrain>(name);
        AcquireRequest Acquire(string sessionId, Guid requestId, TimeSpan lockDelay = default) =>
            new(sessionId, requestId, AcquireMode.IfAvailable, TimeSpan.Zero, null, lockDelay, 1, 0);

        var acquires = new (string Case, string Name, AcquireRequest Request)[]
        {
            ("a name too long", new string('n', Names.MaxBytes + 1), Acquire(session.Id, Guid.NewGuid())),
            ("an empty request id", name, Acquire(session.Id, Guid.Empty)),
            ("no such session", name, Acquire($"{Guid.NewGuid():N}", Guid.NewGuid())),
            ("a lock delay above the cluster's most", name, Acquire(session.Id, Guid.NewGuid(), TimeSpan.FromDays(1))),
        };
        foreach (var (what, lockName, request) in acquires)
        {
            var sent = lane.Direct;
            var onLane = await Record.ExceptionAsync(() => lane.Acquire(Cluster.Grains.GetGrain<ILockGrain>(lockName), lockName, request));
            Assert.Equal(sent + 1, lane.Direct);
            var throughOrleans = await Record.ExceptionAsync(() => Cluster.Grains.GetGrain<ILockGrain>(lockName).Acquire(request));
            AssertSame(what, throughOrleans, onLane);
        }

        // A release of a grant never made: the grain's answer (an outcome or a refusal, by what it remembers), the same both ways.
        var release = new ReleaseRequest(session.Id, Guid.NewGuid(), 7);
        var releasedOnLane = await OutcomeAsync(() => lane.Release(grain, name, release));
        var releasedThroughOrleans = await OutcomeAsync(() => grain.Release(release));
        Assert.Equal(releasedThroughOrleans, releasedOnLane);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task A_lane_cut_under_a_parked_acquire_leaves_one_grant_and_no_stray_waiter()
    {
        await using var holderClient = Cluster.NewClient();
        await using var waiterClient = Cluster.NewClient();
        var lane = LaneOf(waiterClient);
        var name = $"lane/{Guid.NewGuid():N}";
        var held = await holderClient.CreateLock(name).AcquireAsync(Wait);
        await (await waiterClient.CreateLock($"{name}/warm-up").AcquireAsync(Wait)).DisposeAsync();
        await ConnectedAsync(waiterClient);

        var sent = lane.Direct;
        var waiting = waiterClient.CreateLock(name).AcquireAsync(Wait).AsTask();
        await Eventually.Async(async () => (await holderClient.CreateLock(name).GetInfoAsync()).Waiters.Length == 1, Wait, "the acquire parked behind the holder");
        Assert.True(lane.Direct > sent, "the parked acquire went on the lane");

        // Its reply can no longer come on the lane: the call fails as unanswered and is sent again (the same request).
        lane.Interrupt();
        Assert.False(waiting.IsCompleted, "the cut did not end the acquire");
        await held.DisposeAsync();
        await using var granted = await waiting.WaitAsync(Wait);
        Assert.True(granted.FencingToken > held.FencingToken, $"token {granted.FencingToken} after {held.FencingToken}");

        var info = await holderClient.CreateLock(name).GetInfoAsync();
        Assert.Equal(granted.RequestId, info.Holder?.RequestId);
        Assert.Empty(info.Waiters);
        await granted.DisposeAsync();
        info = await holderClient.CreateLock(name).GetInfoAsync();
        Assert.Null(info.Holder);
        Assert.Empty(info.Waiters);
        await ConnectedAsync(waiterClient);
    }

    [Fact]
    public async Task A_grant_whose_lane_reply_is_lost_is_asked_for_again_on_the_lane_and_held_once()
    {
        await using var client = Cluster.NewClient();
        var lane = LaneOf(client);
        await ConnectedAsync(client);
        var name = $"lane/{Guid.NewGuid():N}";
        var (direct, orleans) = (lane.Direct, lane.ThroughOrleans);

        // The grain grants; its reply is lost on the way back, and so is the reply to the first retry. The first call
        // fails as unanswered past its park and grace while the retry waits on the same connection, which stays: the
        // silo answers the lane's ping. The same request goes again on the lane: never through Orleans, never a second grant.
        Cluster.LaneFaults.DropAcquiresOf = name;
        var acquiring = client.CreateLock(name).AcquireAsync(Wait).AsTask();
        await Eventually.Async(() => Cluster.LaneFaults.Lost >= 2, Wait, "an acquire's reply and its retry's lost on the lane");
        Assert.False(acquiring.IsCompleted, "the acquire ended although its reply was lost");
        Cluster.LaneFaults.DropAcquiresOf = null;
        await using var handle = await acquiring.WaitAsync(Wait);

        Assert.Equal(orleans, lane.ThroughOrleans);
        Assert.True(lane.Direct - direct >= 3, $"the acquire was sent again on the lane ({lane.Direct - direct} lane calls)");
        Assert.True(lane.IsConnected, "the lane stayed up: its silo answered the ping");
        var info = await client.CreateLock(name).GetInfoAsync();
        Assert.Equal(handle.RequestId, info.Holder?.RequestId);
        Assert.Equal(handle.FencingToken, info.Holder?.FencingToken);
        Assert.Empty(info.Waiters);
        await handle.DisposeAsync();
        info = await client.CreateLock(name).GetInfoAsync();
        Assert.Null(info.Holder);
    }

    private static LockLane LaneOf(CoordinationClient client) => client.Lane ?? throw new InvalidOperationException("The test clients have a lane unless switched off.");

    /// <summary>Until the lane is connected (it is asked for by a lock call that finds none).</summary>
    private static async Task ConnectedAsync(CoordinationClient client)
    {
        var lane = LaneOf(client);
        await Eventually.Async(
            async () =>
            {
                if (!lane.IsConnected)
                {
                    // A call finds no connection and has one asked for (at most once at a time, after any backoff).
                    await (await client.CreateLock($"lane/connect/{Guid.NewGuid():N}").AcquireAsync(Wait)).DisposeAsync();
                }

                return lane.IsConnected;
            },
            Wait,
            "the client lane connected");
    }

    private static async Task<string> OutcomeAsync(Func<Task<ReleaseOutcome>> release)
    {
        try
        {
            return $"{await release()}";
        }
        catch (Exception ex) when (ex is CoordinationException or ArgumentException)
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
    }

    private static void AssertSame(string what, Exception? throughOrleans, Exception? onLane)
    {
        Assert.True(throughOrleans is not null, $"{what}: the call through Orleans failed");
        Assert.True(onLane is not null, $"{what}: the call on the lane failed");
        Assert.True(throughOrleans is CoordinationException or ArgumentException, $"{what}: a grain's error through Orleans, not a transport's: {throughOrleans}");
        Assert.Equal(throughOrleans.GetType(), onLane.GetType());
        Assert.Equal(throughOrleans.Message, onLane.Message);
    }
}
