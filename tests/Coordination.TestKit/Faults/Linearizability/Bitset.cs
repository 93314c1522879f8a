namespace Coordination.TestKit.Faults;

/// <summary>
/// A fixed-size set of operation ids with value equality and hashing, the "linearized" half of the
/// linearizability search's cache key (Lowe 2017, §4; Porcupine's bitset).
/// </summary>
public sealed class Bitset : IEquatable<Bitset>
{
    private readonly ulong[] _words;

    public Bitset(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        _words = new ulong[(size + 63) / 64];
    }

    private Bitset(ulong[] words)
    {
        _words = words;
    }

    public bool this[int index] => (_words[index >> 6] & Bit(index)) != 0;

    public void Set(int index) => _words[index >> 6] |= Bit(index);

    public void Clear(int index) => _words[index >> 6] &= ~Bit(index);

    /// <summary>A copy with <paramref name="index"/> added; this set is unchanged.</summary>
    public Bitset With(int index)
    {
        var copy = new Bitset((ulong[])_words.Clone());
        copy.Set(index);
        return copy;
    }

    public bool Equals(Bitset? other) => other is not null && _words.AsSpan().SequenceEqual(other._words.AsSpan());

    public override bool Equals(object? obj) => Equals(obj as Bitset);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var word in _words)
        {
            hash.Add(word);
        }

        return hash.ToHashCode();
    }

    private static ulong Bit(int index) => 1UL << (index & 63);
}
