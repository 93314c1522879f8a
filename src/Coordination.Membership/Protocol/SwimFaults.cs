namespace Coordination.Membership.Protocol;

/// <summary>
/// The one seam for the protocol's deliberately broken variants, the simulation's controls: each must be
/// caught by the same checks the real protocol passes. A node gets <see cref="None"/> unless a test sets
/// <see cref="SwimNode.Faults"/> (internal; no configuration reaches it). Each hook is named by the decision
/// it breaks, and the node asks it at that decision only.
/// </summary>
internal sealed class SwimFaults(SwimFaults.Breakage breakage)
{
    public static readonly SwimFaults None = new(Breakage.None);

    internal enum Breakage
    {
        None,

        /// <summary>A suspect never refutes.</summary>
        NoRefutation,

        /// <summary>Any member declares a death on its own, in touch with the group or not, with stale votes.</summary>
        LoneAccuser,

        /// <summary>Precedence broken: a higher incarnation's alive does not override a suspicion, so refutations are lost.</summary>
        AliveNeverOverridesSuspect,
    }

    public Breakage Variant { get; } = breakage;

    /// <summary>Refutation broken: a suspected member lets the suspicion of itself stand.</summary>
    public bool BreaksRefutation => Variant == Breakage.NoRefutation;

    /// <summary>The death rule broken: a run-out suspicion is declared without fresh votes, a majority in touch or the pause after a stall.</summary>
    public bool BreaksDeathRule => Variant == Breakage.LoneAccuser;

    /// <summary>Precedence broken: an alive update never overrides a suspicion, whatever its incarnation.</summary>
    public bool BreaksPrecedence(MemberState current, MemberState update) =>
        Variant == Breakage.AliveNeverOverridesSuspect && current.Status == MemberStatus.Suspect && update.Status == MemberStatus.Alive;
}
