namespace Coordination.Client;

/// <summary>
/// What this client holds through its session: a lock grant or an election's leadership. It is lost when the
/// session is lost (by the client deadline, before the cluster can give it to anyone else) or when an operator
/// revokes it; ending it (release, resign) is idempotent and keeps trying through failovers.
/// </summary>
public abstract class CoordinationGrant
{
    private readonly CancellationTokenSource _revoked = new();
    private readonly CancellationTokenSource _lost;
    private int _ended;

    private protected CoordinationGrant(CoordinationSession session, string name, Guid id, long token)
    {
        Session = session;
        GrantName = name;
        GrantId = id;
        GrantToken = token;
        _lost = CancellationTokenSource.CreateLinkedTokenSource(session.LostToken, _revoked.Token);
        LostToken = _lost.Token;
    }

    /// <summary>True once the grant may be lost (<see cref="LostToken"/> fired or the session's client deadline passed).</summary>
    public bool IsLost => LostToken.IsCancellationRequested || Session.IsLost;

    /// <summary>Why an operator revoked the grant, if one did.</summary>
    public string? RevokedReason { get; private set; }

    private protected CoordinationSession Session { get; }

    /// <summary>The lock or election name.</summary>
    internal string GrantName { get; }

    /// <summary>The request or candidate id.</summary>
    internal Guid GrantId { get; }

    /// <summary>The fencing token or term.</summary>
    internal long GrantToken { get; }

    private protected CancellationToken LostToken { get; }

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
    /// Ends the grant once: stops tracking revocations and withdraws it from the cluster (in the background
    /// if the cluster does not answer in time; a session that already ended withdrew it). Repeating does nothing.
    /// </summary>
    private protected async Task EndAsync<T>(Func<Task<T>> withdrawal)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }

        Session.Revocations.Unregister(this);
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
