namespace Coordination.Membership.Protocol;

/// <summary>The timing rules of the protocol as pure functions (memberlist's and Lifeguard's formulas).</summary>
internal static class ProbeMath
{
    /// <summary>Intervals and timeouts stretch by (local health + 1): a struggling prober slows itself instead of accusing others.</summary>
    public static TimeSpan Scaled(TimeSpan value, int localHealth) => value * (localHealth + 1);

    /// <summary>The shortest suspicion: multiplier × max(1, log10(group size)) × probe interval.</summary>
    public static TimeSpan SuspicionMin(int groupSize, ProbeOptions options) =>
        options.ProbeInterval * (options.SuspicionMultiplier * Math.Max(1.0, Math.Log10(Math.Max(1, groupSize))));

    /// <summary>
    /// Lifeguard's LHA-Suspicion: the timeout starts at max (min × max multiplier) and falls towards min
    /// as independent confirmations arrive, logarithmically, reaching min at the expected number of them
    /// (multiplier − 2, or 0 when the group has too few other members to give them, then it is min at once).
    /// </summary>
    public static TimeSpan SuspicionTimeout(int groupSize, int confirmations, ProbeOptions options)
    {
        var min = SuspicionMin(groupSize, options);
        var max = min * options.SuspicionMaxMultiplier;
        var expected = ExpectedConfirmations(groupSize, options);
        if (expected < 1)
        {
            return min;
        }

        var fraction = Math.Log(Math.Max(0, confirmations) + 1) / Math.Log(expected + 1);
        var timeout = max - ((max - min) * fraction);
        return timeout < min ? min : timeout;
    }

    /// <summary>Confirmations Lifeguard expects: multiplier − 2, but none when fewer than that many other members could confirm.</summary>
    public static int ExpectedConfirmations(int groupSize, ProbeOptions options)
    {
        var k = options.SuspicionMultiplier - 2;
        return groupSize - 2 < k ? 0 : Math.Max(0, k);
    }

    /// <summary>
    /// How far back direct contact counts towards "in touch with a majority": the shortest suspicion, or
    /// long enough to have probed half the group once, whichever is longer.
    /// </summary>
    public static TimeSpan ContactWindow(int groupSize, ProbeOptions options)
    {
        var halfRound = options.ProbeInterval * Math.Ceiling(groupSize / 2.0);
        var min = SuspicionMin(groupSize, options);
        return halfRound > min ? halfRound : min;
    }

    /// <summary>How many messages carry one piece of gossip: multiplier × ⌈log10(group size + 1)⌉.</summary>
    public static int RetransmitLimit(int groupSize, ProbeOptions options) =>
        options.RetransmitMultiplier * (int)Math.Ceiling(Math.Log10(groupSize + 1));
}
