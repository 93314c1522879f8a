namespace Coordination.Simulation.Tests.Sim;

/// <summary>The register simulations' nemesis.</summary>
internal static class ReplicaNemesis
{
    /// <summary>Every 30 to 80 ms: crash a member and replace it (once all members are caught up), or cut a proposer from a replica for a while.</summary>
    public static Func<int> Start(SimCluster cluster, TimeSpan duration)
    {
        var sim = cluster.Sim;
        var end = sim.Now + duration.Ticks;
        var replaced = 0;
        void Strike()
        {
            if (sim.Now >= end)
            {
                cluster.Net.HealAll();
                return;
            }

            if (sim.Random.Next(3) > 0 && cluster.AllMembersActive())
            {
                var members = cluster.Configuration.Members;
                cluster.CrashAndReplace(members[sim.Random.Next(members.Length)].Id);
                replaced++;
            }
            else
            {
                var proposer = cluster.ProposerHosts[sim.Random.Next(cluster.ProposerHosts.Count)];
                var members = cluster.Configuration.Members;
                cluster.Net.Cut(proposer, members[sim.Random.Next(members.Length)].Id);
                sim.Schedule(TimeSpan.FromMilliseconds(10 + sim.Random.Next(20)), cluster.Net.HealAll);
            }

            sim.Schedule(TimeSpan.FromMilliseconds(30 + sim.Random.Next(50)), Strike);
        }

        sim.Schedule(TimeSpan.FromMilliseconds(20 + sim.Random.Next(30)), Strike);
        return () => replaced;
    }
}
