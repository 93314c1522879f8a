namespace Coordination.Replication.Protocol;

/// <summary>
/// One register key as grains use it: changes queue up, are applied one batch at a time, and each caller is
/// answered once its batch is committed. <see cref="RegisterProposer{TValue}"/> (CASPaxos) is the
/// implementation; <see cref="Hosting.RegisterFactory"/> makes one per key. Not thread-safe: call it from one
/// logical thread (a grain's scheduler, or the simulation's).
/// </summary>
internal interface IRegister<TValue> where TValue : class
{
    string Key { get; }

    int Partition { get; }

    /// <summary>The last committed value while it is known to be current without a read, else null.</summary>
    TValue? CachedValue { get; }

    /// <summary>Counts completed rounds, for tests and metrics.</summary>
    long Rounds { get; }

    /// <summary>Called after every commit with the committed value, before any caller of that batch is answered.</summary>
    Action<TValue?>? Committed { get; set; }

    /// <summary>Applies <paramref name="change"/> to the current value and completes once the result is committed.</summary>
    Task<TResult> ExecuteAsync<TResult>(RegisterChange<TValue, TResult> change);

    /// <summary>
    /// Like <see cref="ExecuteAsync"/>, for a change whose caller waits for something else anyway (a request that joins
    /// the queue of a held lock): while <paramref name="lingerWhile"/> holds, asked after every commit, and until about
    /// <see cref="ProposerOptions.Linger"/> after it arrived (rounded up to whole milliseconds, after any batch already in
    /// flight), it starts no round of its own. It goes with the next change that does (the holder's release), so a
    /// contended handoff costs one round, not two.
    /// </summary>
    Task<TResult> ExecuteLaterAsync<TResult>(RegisterChange<TValue, TResult> change, Func<bool> lingerWhile);

    /// <summary>Forgets what is cached, so the next change starts with a fresh read.</summary>
    void Invalidate();

    /// <summary>The generation of the promise the next write would use (see <see cref="RegisterContext.Generation"/>).</summary>
    long Generation { get; }

    /// <summary>
    /// Makes sure the register holds a promise (a prepare if it has none, which writes nothing) and returns its
    /// value and generation. Not a linearizable read: a change that commits under the same generation knows that
    /// nobody else wrote the register since the promise was taken.
    /// </summary>
    ValueTask<RegisterView<TValue>> PeekAsync();
}
