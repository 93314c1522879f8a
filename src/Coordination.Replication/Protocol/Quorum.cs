namespace Coordination.Replication.Protocol;

/// <summary>Majority-quorum arithmetic. Only distinct configured replicas ever count.</summary>
internal static class Quorum
{
    /// <summary>The replication factors the protocol supports: 3 (tolerates 1 failure) and 5 (tolerates 2).</summary>
    public static bool IsSupportedReplicationFactor(int n) => n is 3 or 5;

    /// <summary>A majority of <paramref name="members"/>: ⌊n/2⌋ + 1.</summary>
    public static int Majority(int members)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(members, 1);
        return members / 2 + 1;
    }

    /// <summary>How many failures a configuration of <paramref name="members"/> tolerates: ⌊(n−1)/2⌋.</summary>
    public static int ToleratedFailures(int members) => (members - 1) / 2;

    /// <summary>
    /// True when a majority can no longer be reached: the replicas that have not failed (and might still
    /// say yes) are fewer than the majority still missing.
    /// </summary>
    public static bool IsOutOfReach(int members, int okSoFar, int failedSoFar)
    {
        var pending = members - okSoFar - failedSoFar;
        return okSoFar + pending < Majority(members);
    }
}
