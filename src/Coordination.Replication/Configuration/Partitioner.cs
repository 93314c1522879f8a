using System.IO.Hashing;
using System.Text;

namespace Coordination.Replication.Configuration;

/// <summary>Maps register keys to partitions with a stable hash (XxHash64 of the UTF-8 key), identical on every silo and version.</summary>
internal static class Partitioner
{
    public static int PartitionOf(string key, int partitionCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        var hash = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(key));
        return (int)(hash % (ulong)partitionCount);
    }
}
