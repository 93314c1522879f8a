namespace Coordination.TestKit.Faults;

/// <summary>
/// A sequential specification for the linearizability checker (Wing &amp; Gong 1993; Porcupine's Model;
/// Knossos' models). States are values: they are compared and hashed with
/// <see cref="EqualityComparer{T}.Default"/> (use record structs), since the search caches
/// (linearized set, state) pairs (Lowe 2017).
/// </summary>
public interface IModel<TState>
{
    TState Init { get; }

    /// <summary>
    /// Whether <paramref name="op"/>, with its observed output in <see cref="Operation.Result"/>, is legal in
    /// <paramref name="state"/>, and the state after it. An operation with Outcome Info has no observed output:
    /// a step models it taking effect (the checker may also leave it out). When illegal,
    /// <paramref name="next"/> is <paramref name="state"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The model does not know the operation's function.</exception>
    bool Step(TState state, Operation op, out TState next);
}
