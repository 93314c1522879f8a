using Coordination.Replication.Configuration;
using Coordination.Silo.SiloHost;

namespace Coordination.Tests;

/// <summary>
/// A silo's readiness counts a partition fully redundant only when this silo's own Orleans membership view lists
/// every member as active: a restarted silo's successor that the view has not caught up with yet (not dead here,
/// merely unknown) keeps its partitions degraded, so "ready everywhere" means every silo can route to every member.
/// </summary>
public sealed class ReadinessTests
{
    private static readonly ReplicaId A = new("127.0.0.1:11111@1"), B = new("127.0.0.1:11112@1"), C = new("127.0.0.1:11113@1"), D = new("127.0.0.1:11114@2");

    [Fact]
    public void Partitions_whose_members_are_all_active_here_are_not_degraded()
    {
        var (partitions, inactive) = ReadinessCheck.Degraded([Partition(0, A, B, C), Partition(1, B, C, A)], _ => true);

        Assert.Empty(partitions);
        Assert.Empty(inactive);
    }

    [Fact]
    public void A_member_this_view_does_not_list_as_active_degrades_every_partition_it_belongs_to_and_is_named()
    {
        var (partitions, inactive) = ReadinessCheck.Degraded([Partition(0, A, B, D), Partition(1, A, B, C), Partition(2, D, C, A)], id => id != D);

        Assert.Equal([0, 2], partitions);
        Assert.Equal([D.Value], inactive);
    }

    [Fact]
    public void Unassigned_partitions_and_partitions_with_a_member_still_copying_are_degraded()
    {
        var copying = Partition(1, A, B, C) with { Recovering = [C] };

        var (partitions, inactive) = ReadinessCheck.Degraded([PartitionConfiguration.Unassigned(0), copying, Partition(2, A, B, C)], _ => true);

        Assert.Equal([0, 1], partitions);
        Assert.Empty(inactive);
    }

    private static PartitionConfiguration Partition(int partition, params ReplicaId[] members) =>
        new(partition, 1, [.. members.Select(m => new ReplicaMember(m, 1))], 1, 0, []);
}
