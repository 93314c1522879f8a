namespace Coordination.TestKit.Faults;

/// <summary>A register's state: its value, null before the first write.</summary>
public readonly record struct RegisterState(long? Value);

/// <summary>
/// A compare-and-set register (Knossos' cas-register; Porcupine's kv model): "read" is legal only when its
/// Result equals the value; "write" sets the value to A; "cas" with Result 1 is legal only when the value
/// equals A and sets it to B, with Result 0 only when the value differs from A and changes nothing. With no
/// observed output (Info) a read is always legal and a cas is modelled as succeeding (a cas that failed had
/// no effect, which the checker covers by leaving the operation out).
/// </summary>
public sealed class CasRegisterModel : IModel<RegisterState>
{
    public RegisterState Init => new(null);

    public bool Step(RegisterState state, Operation op, out RegisterState next)
    {
        next = state;
        var unknown = op.Outcome == OpType.Info;
        switch (op.F)
        {
            case "read":
                return unknown || op.Result == state.Value;
            case "write":
                next = new RegisterState(op.A);
                return true;
            case "cas" when unknown || op.Result == 1:
                if (state.Value != op.A)
                {
                    return false;
                }

                next = new RegisterState(op.B);
                return true;
            case "cas" when op.Result == 0:
                return state.Value != op.A;
            case "cas":
                throw new ArgumentException($"A cas completes with Result 1 (swapped) or 0 (no match) ({op}).", nameof(op));
            default:
                throw new ArgumentException($"The cas register model has no operation '{op.F}' ({op}).", nameof(op));
        }
    }
}
