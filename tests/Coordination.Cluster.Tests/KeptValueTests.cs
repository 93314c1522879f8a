using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>
/// An ephemeral value kept set through the client's shared session (a service instance's registration, Curator's
/// ephemeral PersistentNode): set again when its session is lost or it is deleted, never over another writer's value,
/// deleted when its keeper is disposed; and the shared session's loss told to the application.
/// </summary>
public sealed class KeptValueTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private CoordinationCluster Cluster => fixture.Cluster;

    private static string NewName() => $"kept/{Guid.NewGuid():N}";

    [Fact]
    public async Task A_kept_value_is_set_again_through_a_new_shared_session_when_the_cluster_ends_the_old_one_and_the_loss_is_told()
    {
        var client = Cluster.NewClient();
        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.SharedSessionLost += (_, e) => lost.TrySetResult(e.Reason);
        var name = NewName();
        await using var kept = await client.CreateValue(name).KeepEphemeralAsync("10.0.0.5:8080");
        var first = client.SharedSession!;
        Assert.Equal(("10.0.0.5:8080", first.Tag), await ReadAsync(name));
        Assert.Equal(first.Tag, kept.Current?.SessionTag);

        // The cluster ends the session (as it does for an expiry or an operator): the client hears it at its next keepalive.
        await Cluster.Grains.GetGrain<ISessionGrain>(first.Id).Close();
        var reason = await lost.Task.WaitAsync(Bound);
        Assert.False(string.IsNullOrEmpty(reason));

        await Eventually.Async(async () => await ReadAsync(name) is ("10.0.0.5:8080", { } tag) && tag != first.Tag && tag == kept.Current?.SessionTag, Bound, "the kept value to be set again, bound to the client's next shared session");
        Assert.Equal(1, kept.Restores);
        Assert.Equal(client.SharedSession!.Tag, kept.Current?.SessionTag);

        await kept.DisposeAsync();
        Assert.Equal((null, null), await ReadAsync(name));
        Assert.Null(kept.Current);
    }

    [Fact]
    public async Task A_kept_value_is_set_again_when_deleted_and_left_to_another_writer_until_theirs_goes()
    {
        var client = Cluster.NewClient();
        var other = Cluster.NewClient();
        var name = NewName();
        await using var kept = await client.CreateValue(name).KeepEphemeralAsync("mine");

        await other.CreateValue(name).DeleteAsync();
        await Eventually.Async(async () => kept.Restores == 1 && await ReadAsync(name) is ("mine", not null), Bound, "the deleted kept value to be set again");

        // Another session takes it over; then the keeper's own session is lost: it must not take it back.
        await using var theirs = await other.OpenSessionAsync();
        await theirs.CreateValue(name).SetEphemeralAsync("theirs");
        await Eventually.Async(() => kept.Current is null, Bound, "the keeper to see the value taken over");
        var looks = kept.Looks;
        await Cluster.Grains.GetGrain<ISessionGrain>(client.SharedSession!.Id).Close();
        await Eventually.Async(() => kept.Looks > looks, Bound, "the keeper to look at the value again through a new shared session");
        Assert.Equal(("theirs", theirs.Tag), await ReadAsync(name));
        Assert.Equal(1, kept.Restores);

        // Theirs goes with its session: the keeper sets its own again.
        await theirs.CloseAsync();
        await Eventually.Async(async () => kept.Restores == 2 && await ReadAsync(name) is ("mine", { } tag) && tag == client.SharedSession?.Tag, Bound, "the keeper to set the value again once the other session's had gone");
    }

    [Fact]
    public async Task After_its_session_is_lost_a_keeper_leaves_a_persistent_value_another_writer_set()
    {
        var client = Cluster.NewClient();
        var name = NewName();
        await using var kept = await client.CreateValue(name).KeepEphemeralAsync("mine");
        var replaced = await Cluster.NewClient().CreateValue(name).SetAsync("configured by hand");
        await Eventually.Async(() => kept.Current is null, Bound, "the keeper to see the value replaced");

        var looks = kept.Looks;
        await Cluster.Grains.GetGrain<ISessionGrain>(client.SharedSession!.Id).Close();
        await Eventually.Async(() => kept.Looks > looks, Bound, "the keeper to look at the value again through a new shared session");
        var after = await client.CreateValue(name).GetAsync();
        Assert.Equal(("configured by hand", null, replaced.Revision), (after.Value, after.SessionTag, after.Revision));
        Assert.Equal(0, kept.Restores);
    }

    [Fact]
    public async Task Disposing_a_keeper_leaves_another_writers_value_and_a_keeper_on_a_callers_session_ends_with_it()
    {
        var client = Cluster.NewClient();
        var name = NewName();
        var kept = await client.CreateValue(name).KeepEphemeralAsync("mine");
        var replaced = await Cluster.NewClient().CreateValue(name).SetAsync("persistent");
        await Eventually.Async(() => kept.Current is null, Bound, "the keeper to see the value replaced");
        await kept.DisposeAsync();
        Assert.Equal(("persistent", null), await ReadAsync(name));
        Assert.Equal(replaced.Revision, (await client.CreateValue(name).GetAsync()).Revision);

        var session = await client.OpenSessionAsync();
        var own = NewName();
        await using var bound = await session.CreateValue(own).KeepEphemeralAsync("while the session lives");
        Assert.Equal(session.Tag, (await ReadAsync(own)).Tag);
        await session.CloseAsync();
        await Eventually.Async(() => bound.EndedReason is not null, Bound, "keeping to end with the caller's own session");
        await Eventually.Async(async () => await ReadAsync(own) is (null, null), Bound, "the value to go with its session");
        Assert.Equal(0, bound.Restores);

        var told = 0;
        client.SharedSessionLost += (_, _) => Interlocked.Increment(ref told);
        var last = await client.CreateValue(NewName()).KeepEphemeralAsync("until the client closes");
        await client.CloseAsync();
        Assert.Equal(0, Volatile.Read(ref told)); // closing the client is not a loss to tell
        await Eventually.Async(() => last.EndedReason is not null, Bound, "keeping to end with the client");
        await last.DisposeAsync();
        await Assert.ThrowsAsync<ArgumentNullException>(() => client.CreateValue(NewName()).KeepEphemeralAsync(null!));
    }

    private async Task<(string? Value, string? Tag)> ReadAsync(string name)
    {
        var value = await Cluster.NewClient().CreateValue(name).GetAsync();
        return (value.Value, value.SessionTag);
    }
}
