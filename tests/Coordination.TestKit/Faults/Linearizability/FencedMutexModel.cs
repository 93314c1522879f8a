namespace Coordination.TestKit.Faults;

/// <summary>A fenced mutex's state: the holding process (or <see cref="MutexModel.Free"/>) and the last token granted (0 before any).</summary>
public readonly record struct FencedMutexState(int Holder, long LastToken);

/// <summary>
/// A mutex with fencing tokens (Kleppmann 2016): "acquire" by p is legal only when free and its token
/// (Result) is above the last token granted, and makes p the holder of that token; "release" by p of
/// token A is legal only when p holds the lock under that very token. Tokens are positive. An acquire of
/// unknown outcome (Info, no token) that takes effect makes p the holder and leaves the last token as is;
/// its process is never used again, so no release follows it.
/// </summary>
public sealed class FencedMutexModel : IModel<FencedMutexState>
{
    public FencedMutexState Init => new(MutexModel.Free, 0);

    public bool Step(FencedMutexState state, Operation op, out FencedMutexState next)
    {
        next = state;
        switch (op.F)
        {
            case "acquire":
                if (state.Holder != MutexModel.Free)
                {
                    return false;
                }

                if (op.Result is not { } token)
                {
                    next = state with { Holder = op.Process };
                    return true;
                }

                if (token <= state.LastToken)
                {
                    return false;
                }

                next = new FencedMutexState(op.Process, token);
                return true;
            case "release":
                if (op.A is not { } released)
                {
                    throw new ArgumentException($"A release names its token in A ({op}).", nameof(op));
                }

                if (state.Holder != op.Process || released != state.LastToken)
                {
                    return false;
                }

                next = state with { Holder = MutexModel.Free };
                return true;
            default:
                throw new ArgumentException($"The fenced mutex model has no operation '{op.F}' ({op}).", nameof(op));
        }
    }
}
