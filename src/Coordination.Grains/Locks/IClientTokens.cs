namespace Coordination.Grains.Locks;

/// <summary>
/// How a lock grain writes a grant's fencing token into its answer to the client, and reads the token a
/// client quotes back on release. The service hands out the register's own tokens (<see cref="RegisterTokens"/>);
/// this seam exists so the fault suite can prove its checkers catch tokens that are not
/// (<see cref="Faults.GrainFaults"/>). One instance per lock activation.
/// </summary>
internal interface IClientTokens
{
    long ToClient(long token);

    long FromClient(long token);
}
