namespace Coordination.Client;

/// <summary>The entry point of the Coordination client: sessions, locks and lock administration.</summary>
public interface ICoordinationClient
{
    /// <summary>Opens a session (lease) with <paramref name="ttl"/> or the configured default, and starts keeping it alive.</summary>
    Task<CoordinationSession> OpenSessionAsync(TimeSpan? ttl = null, CancellationToken cancellationToken = default);

    /// <summary>A lock held through the client's shared session, opened on first use and re-opened if it is lost.</summary>
    CoordinationLock CreateLock(string name);

    /// <summary>An election campaigned in through the client's shared session.</summary>
    CoordinationElection CreateElection(string name);

    /// <summary>
    /// A set of locks taken all or nothing through the client's shared session, in one canonical order (no deadlock
    /// between overlapping sets). Duplicates are taken once; 1 to <see cref="CoordinationMultiLock.MaxLocks"/> distinct
    /// valid names, else <see cref="CoordinationArgumentException"/> (<see cref="InvalidNameException"/> for a bad name).
    /// </summary>
    CoordinationMultiLock CreateMultiLock(IEnumerable<string> names);

    /// <summary>A semaphore with <paramref name="maxCount"/> permits (1 to <see cref="SemaphoreLimits.MaxPermits"/>), held through the client's shared session.</summary>
    CoordinationSemaphore CreateSemaphore(string name, int maxCount);

    /// <summary>A reader-writer lock (with an upgradeable read) held through the client's shared session.</summary>
    CoordinationReaderWriterLock CreateReaderWriterLock(string name);
    /// <summary>A named value with revisions and watches; ephemeral values are bound to the client's shared session.</summary>
    CoordinationValue CreateValue(string name);

    /// <summary>
    /// Every value whose name starts with <paramref name="prefix"/> (ordinal; empty for all), in name order (etcd's
    /// <c>get --prefix</c>, ZooKeeper's children), fetched <paramref name="pageSize"/> names (1 to 1,000) at a time as
    /// the caller reads on. Each value is read through a majority when its page is fetched: current then, but the
    /// listing is not a snapshot at one revision (a value changed while the listing runs is seen before or after that
    /// change). Failovers are retried; a bad prefix or page size is <see cref="CoordinationArgumentException"/>.
    /// </summary>
    IAsyncEnumerable<VersionedValue> ListValuesAsync(string prefix, int pageSize = 100, CancellationToken cancellationToken = default);

    /// <summary>A named 64-bit counter.</summary>
    CoordinationAtomicLong CreateAtomicLong(string name);

    /// <summary>A countdown latch counted down from <paramref name="initialCount"/> (1 to 1,000,000; the same for every user of the name).</summary>
    CoordinationLatch CreateLatch(string name, int initialCount);

    /// <summary>
    /// Raised when the client's shared session is lost (its lease not kept alive in time, expired or closed by the
    /// cluster), not when the client closes it. Every lock, permit, leadership and ephemeral value held through it is
    /// gone (each handle's lost token has fired); the next call through the shared session opens a new one. Values
    /// kept with <see cref="CoordinationValue.KeepEphemeralAsync"/> are set again on their own.
    /// </summary>
    event EventHandler<SessionLostEventArgs>? SharedSessionLost;

    /// <summary>Admin: takes the lock away from its holder, bumps its fencing token and tells the holder. Recorded in the audit trail, with <see cref="CoordinationClientOptions.Owner"/> as the operator.</summary>
    Task<RevokeResult> RevokeLockAsync(string name, string reason, CancellationToken cancellationToken = default);

    /// <summary>Admin: takes leadership of <paramref name="election"/> away from its leader (its lost token fires at its next keepalive), bumps the term, and audits it as <see cref="RevokeLockAsync"/>.</summary>
    Task<RevokeResult> RevokeLeadershipAsync(string election, string reason, CancellationToken cancellationToken = default);

    /// <summary>Admin: takes every permit of the semaphore away from its holders (each told: its lost token fires), burns a token, and grants none for the holders' TTL. Audited as <see cref="RevokeLockAsync"/>.</summary>
    Task<SharedRevokeResult> RevokeSemaphoreAsync(string name, string reason, CancellationToken cancellationToken = default);

    /// <summary>Admin: takes the reader-writer lock away from every reader and writer (each told: its lost token fires), burns a token, and grants nothing for the holders' TTL. Audited as <see cref="RevokeLockAsync"/>.</summary>
    Task<SharedRevokeResult> RevokeReaderWriterLockAsync(string name, string reason, CancellationToken cancellationToken = default);

    /// <summary>
    /// Admin: revokes the session with the public tag <paramref name="sessionTag"/> (a stuck process's, say): its keepalives
    /// and new acquires are refused, so its client hears at its next keepalive or acquire (its handles' lost tokens fire;
    /// that client closes it, and opens a new session for its next call), and everything the session holds is released
    /// then, after its holders' lock-delay, or when its lease runs out if its client never hears, not before. Audited as
    /// <see cref="RevokeLockAsync"/>; <see cref="SessionNotFoundException"/> when no session has the tag.
    /// </summary>
    Task<SessionRevokeResult> RevokeSessionAsync(string sessionTag, string reason, CancellationToken cancellationToken = default);
}
