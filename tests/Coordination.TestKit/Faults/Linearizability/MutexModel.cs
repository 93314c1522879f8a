namespace Coordination.TestKit.Faults;

/// <summary>A mutex's state: the process holding it, or <see cref="MutexModel.Free"/>.</summary>
public readonly record struct MutexState(int Holder);

/// <summary>
/// A plain mutex (Knossos' mutex model): "acquire" by p is legal only when free and makes p the holder;
/// "release" by p is legal only when p holds it and frees it. Tokens are ignored.
/// </summary>
public sealed class MutexModel : IModel<MutexState>
{
    public const int Free = -1;

    public MutexState Init => new(Free);

    public bool Step(MutexState state, Operation op, out MutexState next)
    {
        next = state;
        switch (op.F)
        {
            case "acquire":
                if (state.Holder != Free)
                {
                    return false;
                }

                next = new MutexState(op.Process);
                return true;
            case "release":
                if (state.Holder != op.Process)
                {
                    return false;
                }

                next = Init;
                return true;
            default:
                throw new ArgumentException($"The mutex model has no operation '{op.F}' ({op}).", nameof(op));
        }
    }
}
