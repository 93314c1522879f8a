namespace Coordination.Client;

/// <summary>
/// What this client holds through its session: a lock grant or an election's leadership. It is lost when the
/// session is lost (by the client deadline, before the cluster can give it to anyone else) or when an operator
/// revokes it; ending it (release, resign) is idempotent and keeps trying through failovers. A grant dropped
/// without being ended is ended when the garbage collector finalizes it (as DistributedLock's backends do), through
/// the session's background withdrawals: a finalizer must never block. Its lost token fires before that release is
/// sent, since the application may still watch a copy of it while a competitor is granted what it held.
/// </summary>
public abstract class CoordinationGrant
{
    private readonly CancellationTokenSource _revoked = new();
    private readonly CancellationTokenSource _lost;
    private readonly CancellationToken _token;
    private int _ended;
    private (string Primitive, ClientMetrics Metrics, TimeProvider Time, long Since)? _tracked;

    private protected CoordinationGrant(CoordinationSession session, string name, Guid id, long token)
    {
        Session = session;
        GrantName = name;
        GrantId = id;
        GrantToken = token;
        _lost = CancellationTokenSource.CreateLinkedTokenSource(session.LostToken, _revoked.Token);
        _token = _lost.Token;
    }

    /// <summary>Ends a grant nobody ended: queued, never awaited, since a finalizer must not block.</summary>
    ~CoordinationGrant()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            Untrack();
            var signalled = false;
            Session.Withdrawals.EnsureEventually(() =>
            {
                // The first attempt only (retries call again): the application hears before anyone else can be granted.
                if (!signalled)
                {
                    signalled = true;
                    SignalAbandoned();
                }

                return Abandon();
            });
        }
    }

    /// <summary>True once the grant may be lost (its lost token fired or the session's client deadline passed), or ended.</summary>
    public bool IsLost => _token.IsCancellationRequested || Session.IsLost || Volatile.Read(ref _ended) == 1;

    /// <summary>Why an operator revoked the grant, if one did.</summary>
    public string? RevokedReason { get; private set; }

    private protected CoordinationSession Session { get; }

    /// <summary>The lock or election name.</summary>
    internal string GrantName { get; }

    /// <summary>The request or candidate id.</summary>
    internal Guid GrantId { get; }

    /// <summary>The fencing token or term.</summary>
    internal long GrantToken { get; }

    /// <summary>The lost signal; <see cref="ObjectDisposedException"/> once the grant is ended (released, resigned), as DistributedLock's handles do.</summary>
    private protected CancellationToken LostToken
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _ended) == 1, this);
            return _token;
        }
    }

    /// <summary>The withdrawal that ends this grant when it was dropped without being ended (a release, a resign).</summary>
    private protected abstract Task Abandon();

    /// <summary>Counts the grant among the client's active ones until it is ended (once, by whoever gave it out).</summary>
    internal void Track(string primitive, ClientMetrics metrics, TimeProvider time)
    {
        _tracked = (primitive, metrics, time, time.GetTimestamp());
        metrics.GrantStarted();
    }

    /// <summary>The end of a tracked grant, for the client's meter: called once, by the path that set <see cref="_ended"/>.</summary>
    private void Untrack()
    {
        if (_tracked is { } tracked)
        {
            tracked.Metrics.GrantEnded(tracked.Primitive, tracked.Time.GetElapsedTime(tracked.Since));
        }
    }

    internal void MarkRevoked(string reason)
    {
        RevokedReason = reason;
        try
        {
            _revoked.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Ended meanwhile: nothing left to signal.
        }
    }

    /// <summary>
    /// Fires the lost token of a grant dropped without being ended, then frees its sources (the linked one is
    /// registered on the session's lost token, which would otherwise keep it for the session's life).
    /// </summary>
    private void SignalAbandoned()
    {
        Session.Revocations.Unregister((GrantName, GrantId));
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException)
        {
            // An application callback on the token threw: the release must still go out.
        }
        finally
        {
            _lost.Dispose();
            _revoked.Dispose();
        }
    }

    /// <summary>
    /// Ends the grant once: stops tracking revocations and withdraws it from the cluster (in the background
    /// if the cluster does not answer in time; a session that already ended withdrew it). Repeating does nothing.
    /// </summary>
    private protected async Task EndAsync<T>(Func<Task<T>> withdrawal)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }

        GC.SuppressFinalize(this);
        Untrack();
        Session.Revocations.Unregister((GrantName, GrantId));
        try
        {
            await Session.Withdrawals.WithdrawAsync(withdrawal);
        }
        finally
        {
            _lost.Dispose();
        }
    }
}
