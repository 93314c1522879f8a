using Coordination.Grains.Locks;
using Coordination.Replication.Hosting;

namespace Coordination.Grains.Faults;

/// <summary>
/// BROKEN ON PURPOSE (<see cref="UnsafeControl.TokensFromMemory"/>): hands clients tokens from a counter in
/// this activation's memory, which starts again at 1 after a failover, and maps them back on release.
/// </summary>
internal sealed class TokensFromMemory : IClientTokens
{
    private readonly Dictionary<long, long> _real = [];
    private long _next;

    public long ToClient(long token)
    {
        var fake = _real.FirstOrDefault(p => p.Value == token).Key;
        if (fake == 0)
        {
            fake = ++_next;
            _real[fake] = token;
        }

        return fake;
    }

    public long FromClient(long token) => _real.GetValueOrDefault(token, token);
}
