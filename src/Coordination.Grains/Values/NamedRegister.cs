using Coordination.Grains.Leases;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Values;

/// <summary>
/// The register of a grain named by its key (a value, a counter, a latch): a name that breaks the rules gets no
/// register at all and is refused at every call, so bad input creates nothing anywhere.
/// </summary>
internal sealed class NamedRegister<T> where T : class
{
    private readonly string? _invalid;
    private readonly IRegister<T>? _register;

    /// <param name="owner">The grain, named by the register's name.</param>
    /// <param name="registers">Makes the register.</param>
    /// <param name="keyOf">The register key of a name.</param>
    /// <param name="remembered">How many of its latest changes the record remembers by request id: no batch is larger.</param>
    public NamedRegister(Grain owner, RegisterFactory registers, Func<string, string> keyOf, int remembered)
    {
        Name = owner.GetPrimaryKeyString();
        _invalid = Names.Check(Name);
        if (_invalid is null)
        {
            _register = registers.Create<T>(keyOf(Name), remembered);
        }
    }

    public string Name { get; }

    /// <summary>The register; <see cref="InvalidNameException"/> for a name that breaks the rules.</summary>
    public IRegister<T> Register => _register ?? throw new InvalidNameException("name", _invalid!);

    /// <summary>Called after every commit (nothing is ever committed for an invalid name).</summary>
    public Action<T?>? Committed
    {
        set => _register?.Committed = value;
    }

    public bool IsValid => _invalid is null;

    public void ValidateName() => _ = Register;

    /// <summary>Retires a quiet grain in one round (see <see cref="IdleRetirement"/>); an invalid name has nothing to retire.</summary>
    public Task<Retirement> RetireAsync(Func<T?, (T? Next, Retirement Found)> retire) =>
        IsValid ? Register.ExecuteAsync((r, _) => retire(r)) : Task.FromResult(Retirement.Gone);
}
