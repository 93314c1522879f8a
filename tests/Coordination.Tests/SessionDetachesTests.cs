using System.Reflection;
using Coordination.Grains.Hosting;
using Coordination.Grains.Sessions;

namespace Coordination.Tests;

public sealed class SessionDetachesTests
{
    private static readonly Holding Lock = new(HoldingKind.Lock, "orders/1");

    [Fact]
    public async Task A_lone_detach_leaves_at_once_in_a_call_of_its_own()
    {
        var session = new ScriptedSession();
        var detaches = new SessionDetaches(ScriptedGrains.For(session));
        var done = detaches.DetachAsync("s1", Lock, 7);
        var call = await session.NextCallAsync();
        Assert.Equal([new Attachment(Lock, 7)], call.Attachments);
        call.Reply.SetResult([]);
        await done.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Detaches_that_come_while_a_call_is_on_its_way_leave_together_in_the_next()
    {
        var session = new ScriptedSession();
        var detaches = new SessionDetaches(ScriptedGrains.For(session));
        var first = detaches.DetachAsync("s1", Lock, 1);
        var inFlight = await session.NextCallAsync();
        var later = Enumerable.Range(2, 700).Select(n => detaches.DetachAsync("s1", new Holding(HoldingKind.Lock, $"orders/{n}"), n)).ToList();
        Assert.False(session.Calls.Reader.TryRead(out _), "a second call left while the first was on its way");
        inFlight.Reply.SetResult([]);
        await first.WaitAsync(TimeSpan.FromSeconds(10));

        // 700 waiting: one call of the most a call carries, then one with the rest.
        var second = await session.NextCallAsync();
        Assert.Equal(SessionDetaches.MaxPerCall, second.Attachments.Length);
        second.Reply.SetResult([]);
        var third = await session.NextCallAsync();
        Assert.Equal(700 - SessionDetaches.MaxPerCall, third.Attachments.Length);
        third.Reply.SetResult([]);
        await Task.WhenAll(later).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(2, 700).Select(n => (long)n), second.Attachments.Concat(third.Attachments).Select(a => a.Sequence));
    }

    [Fact]
    public async Task A_failed_call_fails_every_detach_it_carried_and_the_next_detach_starts_afresh()
    {
        var session = new ScriptedSession();
        var detaches = new SessionDetaches(ScriptedGrains.For(session));
        var first = detaches.DetachAsync("s1", Lock, 1);
        var call = await session.NextCallAsync();
        call.Reply.SetException(new SessionExpiredException("s1", "it ended"));
        await Assert.ThrowsAsync<SessionExpiredException>(() => first.WaitAsync(TimeSpan.FromSeconds(10)));

        var again = detaches.DetachAsync("s1", Lock, 2);
        var next = await session.NextCallAsync();
        Assert.Equal([new Attachment(Lock, 2)], next.Attachments);
        next.Reply.SetResult([]);
        await again.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_detach_whose_shard_had_no_majority_fails_alone()
    {
        var session = new ScriptedSession();
        var detaches = new SessionDetaches(ScriptedGrains.For(session));
        var first = detaches.DetachAsync("s1", Lock, 1);
        var inFlight = await session.NextCallAsync();
        var other = new Holding(HoldingKind.Lock, "orders/2");
        var (kept, lost) = (detaches.DetachAsync("s1", Lock, 2), detaches.DetachAsync("s1", other, 3));
        inFlight.Reply.SetResult([]);
        var batch = await session.NextCallAsync();
        Assert.Equal(2, batch.Attachments.Length);
        batch.Reply.SetResult([new Attachment(other, 3)]);
        await Task.WhenAll(first, kept).WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<QuorumUnavailableException>(() => lost.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>A session grain whose DetachMany calls wait for the test to answer them.</summary>
    private sealed class ScriptedSession : ISessionGrainInternal
    {
        public System.Threading.Channels.Channel<(Attachment[] Attachments, TaskCompletionSource<Attachment[]> Reply)> Calls { get; } =
            System.Threading.Channels.Channel.CreateUnbounded<(Attachment[], TaskCompletionSource<Attachment[]>)>();

        /// <summary>The next DetachMany call, within a deadline.</summary>
        public Task<(Attachment[] Attachments, TaskCompletionSource<Attachment[]> Reply)> NextCallAsync() =>
            Calls.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        public Task<Attachment[]> DetachMany(Attachment[] attachments)
        {
            var reply = new TaskCompletionSource<Attachment[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            Calls.Writer.TryWrite((attachments, reply));
            return reply.Task;
        }

        public Task<SessionInfo> Open(TimeSpan ttl, string? owner = null) => throw new NotSupportedException();

        public Task<TimeSpan> Attach(Holding holding, long sequence, long settledThrough, long[]? finished = null) => throw new NotSupportedException();

        public Task<CoverAttach> AttachCover(Holding holding, long sequence, long settledThrough, long[]? finished = null) => throw new NotSupportedException();

        public Task SettleCover(Holding holding, long sequence, long settledThrough) => throw new NotSupportedException();

        public Task Detach(Holding holding, long sequence) => throw new NotSupportedException();

        public Task<bool> IsAttached(Holding holding, long sequence) => throw new NotSupportedException();

        public Task NotifyRevoked(string lockName, Guid requestId, long token, string reason) => throw new NotSupportedException();

        public Task<SessionRevokeResult> Revoke(string reason) => throw new NotSupportedException();

        public Task Recover() => throw new NotSupportedException();

        public Task<TimeSpan?> LeaseRemaining() => throw new NotSupportedException();
    }

    /// <summary>An IGrainFactory that hands out one scripted session grain, and nothing else.</summary>
    private class ScriptedGrains : DispatchProxy
    {
        private ISessionGrainInternal _session = null!;

        public static IGrainFactory For(ISessionGrainInternal session)
        {
            var proxy = Create<IGrainFactory, ScriptedGrains>();
            ((ScriptedGrains)(object)proxy)._session = session;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod is { Name: nameof(IGrainFactory.GetGrain), IsGenericMethod: true } && targetMethod.GetGenericArguments()[0] == typeof(ISessionGrainInternal)
                ? _session
                : throw new NotSupportedException(targetMethod?.Name);
    }
}
