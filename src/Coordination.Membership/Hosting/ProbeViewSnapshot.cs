using Coordination.Membership.Protocol;

namespace Coordination.Membership.Hosting;

/// <summary>One silo's probe view, as served at <c>/api/membership</c>.</summary>
internal sealed record ProbeViewSnapshot(
    string Self,
    bool Enabled,
    int LocalHealth,
    long MessagesSent,
    long MessagesReceived,
    long SuspicionsRaised,
    long DeathsDeclared,
    long Stalls,
    IReadOnlyList<ProbeMemberSnapshot> Members)
{
    /// <summary>The node's view at <paramref name="now"/>: each member with its suspicion, round trip and status in Orleans' membership.</summary>
    internal static ProbeViewSnapshot Of(SwimNode node, TimeSpan now, ClusterMembershipSnapshot orleans, bool enabled, long suspicionsRaised, long deathsDeclared, long stalls)
    {
        var suspicions = node.Suspicions(now).ToDictionary(s => s.Member);
        var members = node.View.Members.Select(m =>
        {
            suspicions.TryGetValue(m.Key, out var s);
            var suspected = m.Value.Status == MemberStatus.Suspect && s.Member == m.Key;
            return new ProbeMemberSnapshot(
                m.Key.Value,
                m.Value.Status.ToString(),
                m.Value.Incarnation,
                m.Value.Heartbeat,
                suspected ? (now - s.Since).TotalMilliseconds : null,
                suspected ? (s.Deadline - now).TotalMilliseconds : null,
                suspected ? s.Confirmations : 0,
                node.RoundTrips.TryGetValue(m.Key, out var rtt) ? rtt.TotalMilliseconds : null,
                orleans.GetSiloStatus(SiloAddress.FromParsableString(m.Key.Value)).ToString(),
                m.Key == node.Self);
        }).ToList();
        return new ProbeViewSnapshot(node.Self.Value, enabled, node.LocalHealth, node.MessagesSent, node.MessagesReceived, suspicionsRaised, deathsDeclared, stalls, members);
    }
}

/// <summary>What one silo's view says about a member.</summary>
internal sealed record ProbeMemberSnapshot(
    string Member,
    string Status,
    long Incarnation,
    long Heartbeat,
    double? SuspectedForMs,
    double? SuspicionDeadlineInMs,
    int Confirmations,
    double? RoundTripMs,
    string OrleansStatus,
    bool IsSelf);
