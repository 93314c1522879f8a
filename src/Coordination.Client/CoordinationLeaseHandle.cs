using Medallion.Threading;

namespace Coordination.Client;

/// <summary>
/// A held semaphore permit or reader-writer lock. Pass <see cref="FencingToken"/> to what it protects and have
/// that refuse lower tokens. <see cref="HandleLostToken"/> fires when the session is lost (by its client deadline,
/// before the cluster can give the grant to anyone else) or an operator revokes the grant. Disposing releases; repeating it is harmless.
/// </summary>
public abstract class CoordinationLeaseHandle : CoordinationGrant, IDistributedSynchronizationHandle
{
    private readonly Func<ReleaseRequest, Task<ReleaseOutcome>> _release;
    private int _disposed;

    private protected CoordinationLeaseHandle(CoordinationSession session, string name, Guid requestId, long token, Func<ReleaseRequest, Task<ReleaseOutcome>> release)
        : base(session, name, requestId, token)
    {
        _release = release;
    }

    /// <summary>The semaphore's or lock's name.</summary>
    public string Name => GrantName;

    public Guid RequestId => GrantId;

    /// <summary>A permit's or writer's token is strictly above every earlier grant; a reader's is that of the write epoch it reads in.</summary>
    public virtual long FencingToken => GrantToken;

    /// <summary>Fires when the grant may be lost (session lost: client deadline, expiry, close; or revoked). Throws <see cref="ObjectDisposedException"/> once disposed.</summary>
    public CancellationToken HandleLostToken
    {
        get
        {
            ThrowIfDisposed();
            return LostToken;
        }
    }

    /// <summary>Releases (retrying through failovers, then in the background). Repeating it is harmless.</summary>
    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, 1);
        var release = new ReleaseRequest(Session.Id, RequestId, GrantToken);
        try
        {
            await EndAsync(() => _release(release));
        }
        catch (LockNotHeldException)
        {
            // Ended meanwhile (its session ended, or it was revoked).
        }
    }

    public void Dispose() => Blocking.Wait(DisposeAsync);

    /// <summary>A handle dropped without being disposed releases its grant (see <see cref="CoordinationGrant"/>).</summary>
    private protected override Task Abandon() => _release(new ReleaseRequest(Session.Id, RequestId, GrantToken));

    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
}

/// <summary>A held permit of a <see cref="CoordinationSemaphore"/>; its token is strictly above every earlier permit's.</summary>
public sealed class CoordinationSemaphoreHandle : CoordinationLeaseHandle
{
    internal CoordinationSemaphoreHandle(CoordinationSession session, string name, Guid requestId, long token, ISemaphoreGrain grain)
        : base(session, name, requestId, token, grain.Release)
    {
    }
}

/// <summary>A held read or write lock of a <see cref="CoordinationReaderWriterLock"/>.</summary>
public sealed class CoordinationReaderWriterLockHandle : CoordinationLeaseHandle
{
    internal CoordinationReaderWriterLockHandle(CoordinationSession session, string name, Guid requestId, long token, ReaderWriterAccess access, IReaderWriterLockGrain grain)
        : base(session, name, requestId, token, grain.Release)
    {
        Access = access;
    }

    /// <summary>Read or write.</summary>
    public ReaderWriterAccess Access { get; }
}
