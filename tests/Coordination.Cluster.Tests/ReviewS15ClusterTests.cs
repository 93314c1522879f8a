using Coordination.Client;
using Coordination.Cluster.Tests.Infrastructure;
using Coordination.TestKit;

namespace Coordination.Cluster.Tests;

/// <summary>s15 review: failing cluster tests that demonstrate findings (see the review report).</summary>
public sealed class ReviewS15ClusterTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    /// <summary>
    /// The application drops the handle but keeps (a copy of) its HandleLostToken to guard its work, a common
    /// pattern (linking it into a CancellationTokenSource, passing it down). The finalizer releases the lock and
    /// another client is granted it, yet the token the holder still watches never fires: the holder is not told
    /// before a competitor gets the lock (DESIGN: "the client knows first").
    /// </summary>
    [Fact]
    public async Task S15_A_finalizer_release_fires_the_lost_token_a_dropped_handle_left_behind()
    {
        var name = $"review/{Guid.NewGuid():N}";
        var a = fixture.Cluster.NewClient();
        var b = fixture.Cluster.NewClient();
        var lost = await AcquireKeepTokenOnlyAsync(a, name);
        CoordinationLockHandle? next = null;
        await Eventually.Async(async () =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            next = await b.CreateLock(name).TryAcquireAsync(TimeSpan.FromMilliseconds(200));
            return next is not null;
        }, TimeSpan.FromSeconds(20), "another client to get the lock after the dropped handle was collected");
        try
        {
            Assert.True(lost.IsCancellationRequested, "the first holder still watches a lost token that never fired, while another client holds the lock");
        }
        finally
        {
            await next!.DisposeAsync();
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<CancellationToken> AcquireKeepTokenOnlyAsync(CoordinationClient client, string name) =>
        (await client.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(10))).HandleLostToken;
}
