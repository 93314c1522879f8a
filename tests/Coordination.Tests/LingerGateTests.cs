using Coordination.Grains.Leases;

namespace Coordination.Tests;

/// <summary>Which acquires the lease queue lets linger for the next change instead of a round of their own (<see cref="LingerGate"/>).</summary>
public sealed class LingerGateTests
{
    private const long Epoch = 1;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Park = TimeSpan.FromSeconds(5);

    private static LockRequest Req(string session, int n) => new(session, new Guid(n, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]), null, TimeSpan.Zero, Ttl, Sequence: n);

    private static LockRecord HeldBy(string session) => LockStateMachine.Acquire(null, Req(session, 1), AcquireMode.Wait, Epoch).Next;

    [Fact]
    public void A_new_request_that_will_wait_behind_a_holder_lingers()
    {
        Assert.True(LingerGate.Lingers(AcquireMode.Wait, Park, HeldBy("s1"), known: false, Req("s2", 2)));
        Assert.True(LingerGate.Lingers(AcquireMode.Wait, Park, HeldBy("s1"), known: false, Req("s1", 2)), "a second request of the holder's session waits too");
    }

    [Fact]
    public void A_request_that_wants_an_answer_now_or_would_be_granted_goes_round_at_once()
    {
        var held = HeldBy("s1");
        Assert.False(LingerGate.Lingers(AcquireMode.IfAvailable, Park, held, known: false, Req("s2", 2)), "a try-acquire lingered");
        Assert.False(LingerGate.Lingers(AcquireMode.Wait, TimeSpan.Zero, held, known: false, Req("s2", 2)), "a wait of zero lingered");
        Assert.False(LingerGate.Lingers(AcquireMode.Wait, Park, held, known: true, Req("s2", 2)), "a retry of a request the queue knows lingered");
        Assert.False(LingerGate.Lingers<LockRecord>(AcquireMode.Wait, Park, null, known: false, Req("s2", 2)), "the first request of a register never written lingered");

        var free = LockStateMachine.Release(held, "l", "s1", Req("s1", 1).RequestId, held.Holder!.Token, Epoch).Next;
        Assert.False(LingerGate.Lingers(AcquireMode.Wait, Park, free, known: false, Req("s2", 2)), "a request for a free lock lingered");
    }
}
