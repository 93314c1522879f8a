using System.Collections.Immutable;

namespace Coordination.Membership.Protocol;

internal enum ProbeKind
{
    /// <summary>Are you alive? Answered with an <see cref="Ack"/> of the same sequence number.</summary>
    Ping = 0,

    /// <summary>The answer to a ping (forwarded to the original prober by a peer that probed indirectly).</summary>
    Ack = 1,

    /// <summary>Please ping <see cref="ProbeMessage.Target"/> for me and forward its ack.</summary>
    PingReq = 2,

    /// <summary>From a peer asked to probe indirectly: the target did not answer it either (Lifeguard).</summary>
    Nack = 3,

    /// <summary>Push-pull anti-entropy: the sender's whole view; answered once with the receiver's.</summary>
    Sync = 4,
}

/// <summary>A piece of gossip: a member's state, and for a suspicion, who suspects it.</summary>
[GenerateSerializer, Immutable, Alias("coord.probe.Update")]
internal sealed record GossipUpdate(MemberId Member, MemberState State, MemberId? Accuser);

/// <summary>
/// One protocol message (sent one way, like a datagram). Every message carries its sender's own state and
/// piggybacked gossip; <see cref="View"/> is set only on <see cref="ProbeKind.Sync"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.probe.Message")]
internal sealed record ProbeMessage(
    ProbeKind Kind,
    long Seq,
    MemberId From,
    MemberState FromState,
    MemberId Target,
    ImmutableArray<GossipUpdate> Gossip,
    MembershipView? View = null,
    bool IsReply = false);

/// <summary>A message the node wants sent.</summary>
internal readonly record struct Outgoing(MemberId To, ProbeMessage Message);

/// <summary>A change of a member's status in this node's view.</summary>
/// <param name="DeclaredHere">This node declared the death itself (its suspicion ran out with enough confirmations): the host hands it to Orleans.</param>
internal readonly record struct MemberChange(MemberId Member, MemberStatus? Was, MemberState Now, bool DeclaredHere, TimeSpan At);
