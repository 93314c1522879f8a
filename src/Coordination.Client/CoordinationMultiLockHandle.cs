using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// Every lock of a <see cref="CoordinationMultiLock"/>, held through one session. Pass each lock's token from
/// <see cref="FencingTokens"/> to what that lock protects. <see cref="HandleLostToken"/> fires when any member may be
/// lost (the session lost, or one lock revoked): the set is then no longer held as a whole. Disposing releases every
/// member; repeating it is harmless. A handle dropped without disposal is released member by member when the garbage
/// collector finalizes them, as a single lock's is.
/// </summary>
public sealed class CoordinationMultiLockHandle : IDistributedSynchronizationHandle
{
    private readonly IReadOnlyList<CoordinationLockHandle> _members;
    private readonly CancellationTokenSource _anyLost;
    private readonly CancellationToken _lostToken;
    private int _disposed;

    internal CoordinationMultiLockHandle(IReadOnlyList<CoordinationLockHandle> members)
    {
        _members = members;
        _anyLost = CancellationTokenSource.CreateLinkedTokenSource([.. members.Select(m => m.HandleLostToken)]);
        _lostToken = _anyLost.Token;
        Names = [.. members.Select(m => m.LockName)];
        FencingTokens = members.ToDictionary(m => m.LockName, m => m.FencingToken, StringComparer.Ordinal);
    }

    /// <summary>The locks held, in the order they were taken.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Each lock's fencing token: strictly greater than every earlier grant of that lock.</summary>
    public IReadOnlyDictionary<string, long> FencingTokens { get; }

    /// <summary>Fires when any member may be lost (session lost, a lock revoked). Throws <see cref="ObjectDisposedException"/> once disposed.</summary>
    public CancellationToken HandleLostToken
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
            return _lostToken;
        }
    }

    /// <summary>True once any member may be lost, or the set was released.</summary>
    public bool IsLost => Volatile.Read(ref _disposed) == 1 || _members.Any(m => m.IsLost);

    /// <summary>Why an operator revoked a member, if one did (the first such member in <see cref="Names"/> order).</summary>
    public string? RevokedReason => _members.Select(m => m.RevokedReason).FirstOrDefault(r => r is not null);

    /// <summary>Releases every member at once (each retrying through failovers, then in the background). Repeating it is harmless.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _anyLost.Dispose();
        await Task.WhenAll(_members.Select(m => m.DisposeAsync().AsTask()));
    }

    public void Dispose() => Blocking.Wait(DisposeAsync);
}
