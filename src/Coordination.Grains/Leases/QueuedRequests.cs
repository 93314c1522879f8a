using System.Collections.Immutable;

namespace Coordination.Grains.Leases;

/// <summary>
/// The session, number and cover of every request a queue holds or queues, holders first: what
/// <see cref="ILeaseState{TSelf}.Requests"/> gives, without making a request of each holder (the covers look at the
/// queue on every acquire and every change).
/// </summary>
internal struct QueuedRequests<TQueue>(TQueue queue) where TQueue : class, ILeaseState<TQueue>
{
    private ImmutableList<LockRequest>.Enumerator _waiters = queue.Waiters.GetEnumerator();
    private int _holder = -1;

    public (string SessionId, long Sequence, long Cover) Current { get; private set; }

    public readonly QueuedRequests<TQueue> GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_holder < queue.HolderCount && ++_holder < queue.HolderCount)
        {
            var h = queue.HolderAt(_holder);
            Current = (h.SessionId, h.Sequence, h.Cover);
            return true;
        }

        if (_waiters.MoveNext())
        {
            var w = _waiters.Current;
            Current = (w.SessionId, w.Sequence, w.Cover);
            return true;
        }

        return false;
    }

    public void Dispose() => _waiters.Dispose();
}
