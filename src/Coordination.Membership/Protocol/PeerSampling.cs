namespace Coordination.Membership.Protocol;

/// <summary>Random choices among peers (memberlist's kRandomNodes): the push-pull partner and the indirect probers.</summary>
internal static class PeerSampling
{
    public static MemberId? One(Random random, IEnumerable<MemberId> candidates)
    {
        var peers = candidates.ToList();
        return peers.Count == 0 ? null : peers[random.Next(peers.Count)];
    }

    /// <summary>Up to <paramref name="count"/> distinct peers: the head of a partial Fisher-Yates shuffle.</summary>
    public static List<MemberId> Some(Random random, IEnumerable<MemberId> candidates, int count)
    {
        var peers = candidates.ToList();
        for (var i = 0; i < Math.Min(count, peers.Count); i++)
        {
            var j = i + random.Next(peers.Count - i);
            (peers[i], peers[j]) = (peers[j], peers[i]);
        }

        return [.. peers.Take(count)];
    }
}
