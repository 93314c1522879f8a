namespace Coordination.Replication.Configuration;

/// <summary>Partition numbers in a log line a person reads.</summary>
internal static class PartitionSample
{
    /// <summary>At most eight partition numbers, then how many more.</summary>
    public static string Of(IEnumerable<int> partitions)
    {
        var all = partitions.ToList();
        var shown = string.Join(",", all.Take(8));
        return all.Count > 8 ? $"{shown} and {all.Count - 8} more" : shown;
    }
}
