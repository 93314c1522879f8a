using System.Buffers;
using System.Collections.Immutable;
using System.IO.Hashing;
using System.Text;

namespace Coordination.Replication.Protocol;

/// <summary>
/// What one replica of a partition remembers about keys it does not hold: a ballot floor per hash bucket of
/// keys, which is the promise of every absent key of the bucket, and the partition's token floor, which is at
/// least the last fencing token (or revision) of every register of the partition ever deleted.
/// </summary>
/// <remarks>
/// An absent key behaves as the slot (promise = its bucket's floor, nothing accepted). A prepare of an absent
/// key records its promise by raising the floor instead of creating a slot, so reads of absent keys create
/// nothing; dropping a slot (<see cref="ReplicaOperation.Forget"/>) raises the floor to the slot's promise, so
/// an acceptor only ever promises more than it did. Floors are pointwise maxima: merging copies from several
/// sources (recovery) keeps every promise any of them made. Not thread-safe: the owning replica locks.
/// </remarks>
internal sealed class KeyFloors
{
    /// <summary>Buckets per partition: enough that unrelated fresh keys rarely share a floor, few enough to copy in every recovery.</summary>
    public const int Buckets = 64;

    private readonly Ballot[] _ballots = new Ballot[Buckets];

    public long TokenFloor { get; private set; }

    /// <summary>The bucket of <paramref name="key"/>: a stable hash, identical on every silo and version (recovery copies floors by bucket).</summary>
    public static int BucketOf(string key)
    {
        var length = Encoding.UTF8.GetMaxByteCount(key.Length);
        var rented = length <= 1024 ? null : ArrayPool<byte>.Shared.Rent(length);
        var buffer = rented ?? stackalloc byte[1024];
        try
        {
            var written = Encoding.UTF8.GetBytes(key, buffer);
            return (int)(XxHash32.HashToUInt32(buffer[..written], seed: 0x5EED) % Buckets);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The slot an absent key behaves as.</summary>
    public RegisterSlot Absent(string key) => new(_ballots[BucketOf(key)], Ballot.Zero, null);

    public Ballot Of(string key) => _ballots[BucketOf(key)];

    /// <summary>Promises <paramref name="ballot"/> to every absent key of <paramref name="key"/>'s bucket (never lowers).</summary>
    public void Raise(string key, Ballot ballot)
    {
        var bucket = BucketOf(key);
        _ballots[bucket] = Ballot.Max(_ballots[bucket], ballot);
    }

    public void RaiseToken(long floor) => TokenFloor = Math.Max(TokenFloor, floor);

    public void Clear()
    {
        Array.Clear(_ballots);
        TokenFloor = 0;
    }

    public FloorsCopy Copy() => new([.. _ballots], TokenFloor);

    /// <summary>Takes the pointwise maximum with a copy from another replica of the partition.</summary>
    public void Merge(FloorsCopy copy)
    {
        if (copy.Ballots.Length != Buckets)
        {
            throw new ArgumentException($"A floors copy has {Buckets} buckets (got {copy.Ballots.Length}).", nameof(copy));
        }

        for (var i = 0; i < Buckets; i++)
        {
            _ballots[i] = Ballot.Max(_ballots[i], copy.Ballots[i]);
        }

        RaiseToken(copy.TokenFloor);
    }
}

/// <summary>A copy of a replica's <see cref="KeyFloors"/>, sent with the last page of a recovery copy.</summary>
[GenerateSerializer, Immutable, Alias("coord.FloorsCopy")]
internal sealed record FloorsCopy(ImmutableArray<Ballot> Ballots, long TokenFloor)
{
    public static FloorsCopy Empty { get; } = new([.. new Ballot[KeyFloors.Buckets]], 0);

    public static FloorsCopy Max(FloorsCopy a, FloorsCopy b) =>
        new([.. a.Ballots.Zip(b.Ballots, Ballot.Max)], Math.Max(a.TokenFloor, b.TokenFloor));
}
