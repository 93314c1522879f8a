namespace Coordination.Grains.Locks;

/// <summary>The fencing tokens of the lock's register, handed to clients as they are.</summary>
internal sealed class RegisterTokens : IClientTokens
{
    public static readonly RegisterTokens Instance = new();

    private RegisterTokens()
    {
    }

    public long ToClient(long token) => token;

    public long FromClient(long token) => token;
}
