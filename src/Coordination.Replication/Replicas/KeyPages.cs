using System.Security.Cryptography;
using System.Text;

namespace Coordination.Replication.Replicas;

/// <summary>How a page of keys is ordered and which keys under the prefix it holds.</summary>
internal enum KeyOrder
{
    /// <summary>Every key under the prefix, by the rest of the key (ordinal).</summary>
    ByName = 0,

    /// <summary>
    /// Keys under the prefix whose rest has no '/' (a session, not its shards), by the hex SHA-256 of the rest:
    /// secret names (session ids) are never a cursor, and this order is the order of their public tags.
    /// </summary>
    TopLevelByHash = 1,
}

/// <summary>A request for one page of the live register keys a replica holds in one partition (an operator listing).</summary>
/// <param name="After">Only keys whose sort key is above this (ordinal); empty for the first page, which includes the key
/// that is the prefix itself (a search for a whole name).</param>
[GenerateSerializer, Immutable, Alias("coord.KeyPageRequest")]
internal sealed record KeyPageRequest(int Partition, string Prefix, string After, int Limit, KeyOrder Order);

/// <summary>Up to the limit of (sort key, register key) pairs in sort-key order; <see cref="Active"/> is false when the replica does not (yet) hold the partition's state.</summary>
[GenerateSerializer, Immutable, Alias("coord.KeyPage")]
internal sealed record KeyPage(bool Active, IReadOnlyList<KeyValuePair<string, string>> Keys);

/// <summary>
/// Pages over a replica's keys for operator listings. A key committed at a majority is at some member of every
/// majority, so the union of the pages of a majority of a partition's members misses no live register.
/// </summary>
internal static class KeyPages
{
    /// <summary>The most keys one page may ask for.</summary>
    public const int MaxLimit = 1000;

    public static KeyPage Page(ReplicaNode node, KeyPageRequest request)
    {
        var replica = node.Partitions.FirstOrDefault(p => p.Configuration.Partition == request.Partition);
        if (replica is null || replica.Role != ReplicaRole.Active)
        {
            return new KeyPage(false, []);
        }

        var limit = Math.Clamp(request.Limit, 1, MaxLimit);
        var page = new SortedList<string, string>(StringComparer.Ordinal);
        foreach (var (key, slot) in replica.CopySlots())
        {
            if (slot.Value is null || !key.StartsWith(request.Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = key[request.Prefix.Length..];
            if (request.Order == KeyOrder.TopLevelByHash && rest.Contains('/', StringComparison.Ordinal))
            {
                continue;
            }

            var sortKey = request.Order == KeyOrder.ByName ? rest : HashOf(rest);
            if ((request.After.Length > 0 && string.CompareOrdinal(sortKey, request.After) <= 0) || (page.Count == limit && string.CompareOrdinal(sortKey, page.Keys[^1]) >= 0))
            {
                continue;
            }

            page[sortKey] = key;
            if (page.Count > limit)
            {
                page.RemoveAt(page.Count - 1);
            }
        }

        return new KeyPage(true, [.. page]);
    }

    /// <summary>The hex SHA-256 of a name: its first 12 digits are a session's public tag (<see cref="SessionIds.Tag"/>).</summary>
    public static string HashOf(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)));
}
