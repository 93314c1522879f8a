namespace Coordination.TestKit.Faults;

/// <summary>A counter's state: its value, 0 before any change.</summary>
public readonly record struct CounterState(long Value);

/// <summary>
/// An atomic counter (Hazelcast's IAtomicLong): "read" is legal only when its Result equals the value; "add" with
/// delta A is legal only when its Result is the value plus A, and sets it; "cas" is the compare-and-set register's
/// (<see cref="CasRegisterModel"/>: Result 1 swapped A for B, 0 found another value). With no observed output (Info)
/// a read is always legal, and an add or cas is modelled as taking effect.
/// </summary>
public sealed class AtomicLongModel : IModel<CounterState>
{
    public CounterState Init => new(0);

    public bool Step(CounterState state, Operation op, out CounterState next)
    {
        next = state;
        var unknown = op.Outcome == OpType.Info;
        switch (op.F)
        {
            case "read":
                return unknown || op.Result == state.Value;
            case "add":
                var sum = state.Value + (op.A ?? throw new ArgumentException($"An add needs its delta in A ({op}).", nameof(op)));
                if (!unknown && op.Result != sum)
                {
                    return false;
                }

                next = new CounterState(sum);
                return true;
            case "cas" when unknown || op.Result == 1:
                if (state.Value != op.A)
                {
                    return false;
                }

                next = new CounterState(op.B ?? throw new ArgumentException($"A cas needs its new value in B ({op}).", nameof(op)));
                return true;
            case "cas" when op.Result == 0:
                return state.Value != op.A;
            default:
                throw new ArgumentException($"The atomic long model has no operation '{op.F}' with this result ({op}).", nameof(op));
        }
    }
}
