namespace Coordination.Grains.Leases;

/// <summary>
/// Fencing token arithmetic. A token is (epoch · 2^40) + counter: the counter grows by one per grant of
/// a lock, and the epoch is the cluster epoch the lock's state began in. A lock whose state survived keeps
/// counting; a lock whose state was lost (re-initialised partition, full restart) restarts above the new,
/// higher epoch, so its tokens still exceed every token it ever handed out.
/// </summary>
internal static class FencingTokens
{
    public const int CounterBits = 40;

    /// <summary>The largest cluster epoch that still fits a positive 64-bit token.</summary>
    public const long MaxEpoch = (1L << (63 - CounterBits)) - 1;

    /// <summary>The first token of a lock whose state began in <paramref name="epoch"/>, minus one.</summary>
    public static long Base(long epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(epoch, MaxEpoch);
        return epoch << CounterBits;
    }

    /// <summary>The token after <paramref name="last"/> for a lock whose state began in <paramref name="epoch"/>: strictly greater than both.</summary>
    public static long Next(long last, long epoch)
    {
        var next = Math.Max(last, Base(epoch)) + 1;
        return next <= last ? throw new OverflowException($"Fencing token space exhausted after {last}.") : next;
    }

    public static long EpochOf(long token) => token >> CounterBits;

    public static long CounterOf(long token) => token & ((1L << CounterBits) - 1);
}
