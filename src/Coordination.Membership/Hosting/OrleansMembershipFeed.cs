using Coordination.Membership.Protocol;

namespace Coordination.Membership.Hosting;

/// <summary>
/// Feeds Orleans' membership to the node: silos Orleans lists as active join the probe group; silos it
/// holds dead or leaving leave it for good. Read once at start, then on every membership update.
/// </summary>
internal sealed class OrleansMembershipFeed(IClusterMembershipService membership, LockedSwimNode node, Action<NodeOutput> dispatch)
{
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stopping))
            {
                Reconcile(snapshot);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    public void Reconcile(ClusterMembershipSnapshot snapshot) => dispatch(node.Run((n, now) =>
    {
        foreach (var member in snapshot.Members.Values)
        {
            var id = new MemberId(member.SiloAddress.ToParsableString());
            switch (member.Status)
            {
                case SiloStatus.Active:
                    n.Add(id, now);
                    break;
                case SiloStatus.Dead:
                    n.Remove(id, MemberStatus.Dead, now);
                    break;
                case SiloStatus.ShuttingDown or SiloStatus.Stopping:
                    n.Remove(id, MemberStatus.Left, now);
                    break;
            }
        }
    }));
}
