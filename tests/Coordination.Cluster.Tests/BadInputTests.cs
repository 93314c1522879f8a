using Coordination.Cluster.Tests.Infrastructure;

namespace Coordination.Cluster.Tests;

/// <summary>Every kind of bad input gets a clear, typed error and changes nothing.</summary>
public sealed class BadInputTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private IGrainFactory Grains => fixture.Cluster.Grains;

    public static TheoryData<string, string> BadNames => new()
    {
        { "tab\tinside", "control characters" },
        { "nul\0", "control characters" },
        { new string('n', 513), "at most 512 UTF-8 bytes" },
    };

    [Theory]
    [MemberData(nameof(BadNames))]
    public async Task Bad_lock_names_are_refused_by_every_lock_operation(string name, string rule)
    {
        await using var s = await TestSession.OpenAsync(Grains, keepAlive: false);
        var calls = new Func<Task>[]
        {
            () => Grains.Lock(name).Acquire(new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid()))),
            () => Grains.Lock(name).Release(new ReleaseRequest(s.Id, Guid.NewGuid(), 1)),
            () => Grains.Lock(name).Cancel(s.Id, Guid.NewGuid()),
            () => Grains.Lock(name).GetInfo(),
            () => Grains.Lock(name).Revoke("reason"),
        };
        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<InvalidNameException>(call);
            Assert.Contains(rule, error.Message, StringComparison.Ordinal);
            Assert.Equal("name", error.Argument);
        }

        Assert.Equal(0, (await s.Grain.GetInfo()).Holdings);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_names_cannot_even_address_a_grain_and_get_the_typed_error_from_the_name_rules(string name)
    {
        // Orleans refuses an empty key before anything is sent; the client library checks names first.
        Assert.Throws<ArgumentException>(() => Grains.Lock(name));
        Assert.Contains("empty or whitespace", Assert.Throws<InvalidNameException>(() => Names.Validate(name)).Message, StringComparison.Ordinal);
    }

    public static TheoryData<double, string> BadTtls => new()
    {
        { 0, "must be positive" },
        { -5, "must be positive" },
        { 1, "must be at least 2.25 s" },
        { 2.2, "must be at least 2.25 s" },
        { 3601, "must be at most 01:00:00" },
        { 1e9, "must be at most 01:00:00" },
    };

    [Theory]
    [MemberData(nameof(BadTtls))]
    public async Task Session_ttls_outside_the_bounds_are_refused_with_the_rule(double seconds, string rule)
    {
        var error = await Assert.ThrowsAsync<InvalidTtlException>(() => Grains.GetGrain<ISessionManagerGrain>(0).Open(TimeSpan.FromSeconds(seconds)));
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
        Assert.Equal("ttl", error.Argument);
    }

    [Fact]
    public async Task Bad_acquire_arguments_are_refused_and_change_nothing()
    {
        var name = $"bad/{Guid.NewGuid():N}";
        await using var s = await TestSession.OpenAsync(Grains, keepAlive: false);
        var cases = new (AcquireRequest Request, string Argument)[]
        {
            (new AcquireRequest(s.Id, Guid.Empty, AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, Guid.Empty)), "requestId"),
            (new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.FromSeconds(-1), null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid())), "maxWait"),
            (new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.FromSeconds(-1), Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid())), "lockDelay"),
            (new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.FromHours(2), Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid())), "lockDelay"),
            (new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, new string('o', 600), TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid())), "owner"),
            (new AcquireRequest(s.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, "bell\a", TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid())), "owner"),
            (new AcquireRequest(s.Id, Guid.NewGuid(), (AcquireMode)7, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(s.Id, Guid.NewGuid())), "mode"),
            (new AcquireRequest("", Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of("", Guid.NewGuid())), "sessionId"),
            (new AcquireRequest("has space", Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of("has space", Guid.NewGuid())), "sessionId"),
        };
        foreach (var (request, argument) in cases)
        {
            var error = await Assert.ThrowsAnyAsync<CoordinationArgumentException>(() => Grains.Lock(name).Acquire(request));
            Assert.Equal(argument, error.Argument);
            Assert.Contains("Nothing was changed", error.Message, StringComparison.Ordinal);
        }

        await AssertNeverTouchedAsync(name);
    }

    [Fact]
    public async Task Unknown_and_expired_sessions_are_refused_and_change_nothing()
    {
        var name = $"bad/{Guid.NewGuid():N}";
        var unknown = SessionIds.NewId();
        await Assert.ThrowsAsync<SessionNotFoundException>(() => Grains.Lock(name).Acquire(new AcquireRequest(unknown, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(unknown, Guid.NewGuid()))));
        await Assert.ThrowsAsync<SessionNotFoundException>(() => Grains.GetGrain<ISessionGrain>(unknown).KeepAlive(0));
        await Assert.ThrowsAsync<SessionNotFoundException>(() => Grains.GetGrain<ISessionGrain>(unknown).GetInfo());

        var closed = await TestSession.OpenAsync(Grains, keepAlive: false);
        await closed.Grain.Close();
        await Assert.ThrowsAsync<SessionExpiredException>(() => Grains.Lock(name).Acquire(new AcquireRequest(closed.Id, Guid.NewGuid(), AcquireMode.Wait, TimeSpan.Zero, null, TimeSpan.Zero, Sequence: RequestNumbers.Of(closed.Id, Guid.NewGuid()))));

        await AssertNeverTouchedAsync(name);
    }

    [Fact]
    public async Task Release_by_a_non_owner_or_with_a_bad_token_is_refused_and_changes_nothing()
    {
        var name = $"bad/{Guid.NewGuid():N}";
        await using var a = await TestSession.OpenAsync(Grains);
        await using var b = await TestSession.OpenAsync(Grains);
        var id = Guid.NewGuid();
        var token = await Grains.AcquireAsync(name, a.Id, id, TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<LockNotHeldException>(() => Grains.Lock(name).Release(new ReleaseRequest(b.Id, id, token)));
        await Assert.ThrowsAsync<LockNotHeldException>(() => Grains.Lock(name).Release(new ReleaseRequest(a.Id, Guid.NewGuid(), token)));
        await Assert.ThrowsAsync<LockNotHeldException>(() => Grains.Lock(name).Release(new ReleaseRequest(a.Id, id, token + 1)));
        var zero = await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.Lock(name).Release(new ReleaseRequest(a.Id, id, 0)));
        Assert.Equal("fencingToken", zero.Argument);
        var info = await Grains.InfoAsync(name);
        Assert.Equal(new LockHolder(a.Info.Tag, id, token, null), info.Holder);
        Assert.Equal(token, info.LastFencingToken);
    }

    [Fact]
    public async Task Admin_acts_need_a_reason_and_reinitialisation_refuses_healthy_partitions()
    {
        await Assert.ThrowsAsync<CoordinationArgumentException>(() => Grains.Lock("x").Revoke(" "));
        var admin = Grains.GetGrain<IClusterAdminGrain>(0);
        var before = await admin.GetView();
        var noReason = await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.Reinitialize([0], "", "ops"));
        Assert.Equal("reason", noReason.Argument);
        var healthy = await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.Reinitialize([0], "oops", "ops"));
        Assert.Contains("still has a majority", healthy.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<CoordinationArgumentException>(() => admin.Reinitialize([999], "oops", "ops"));
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);
        var after = await admin.GetView();
        Assert.Equal(before.ClusterEpoch, after.ClusterEpoch);
        Assert.Equal(before.Partitions.Select(p => p.Epoch), after.Partitions.Select(p => p.Epoch));
    }

    /// <summary>The refused calls left the lock as if never called: no holder, no waiter, no token handed out.</summary>
    private async Task AssertNeverTouchedAsync(string name)
    {
        var info = await Grains.InfoAsync(name);
        Assert.Null(info.Holder);
        Assert.Empty(info.Waiters);
        Assert.Equal(0, info.LastFencingToken);
    }
}
