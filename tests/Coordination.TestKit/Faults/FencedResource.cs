namespace Coordination.TestKit.Faults;

/// <summary>
/// The resource a lock protects, as a storage service that checks fencing tokens would be (Kleppmann,
/// "How to do distributed locking", 2016): it keeps the highest token it has seen and refuses any request
/// with a lower one. An equal token is accepted: a holder reads and writes several times under its one
/// token. That every grant has a new, higher token is the lock's property, which the tests and checkers
/// judge from what was written (a token appearing twice, or out of order), not the resource's. Invariant:
/// the list of items only ever changes under a token at least as high as every token accepted before.
/// </summary>
public sealed class FencedResource
{
    private readonly Lock _gate = new();
    private long _highest = long.MinValue;
    private long[] _items = [];
    private long _accepted;
    private long _rejected;

    public long HighestToken
    {
        get
        {
            lock (_gate)
            {
                return _highest;
            }
        }
    }

    public IReadOnlyList<long> Items
    {
        get
        {
            lock (_gate)
            {
                return _items;
            }
        }
    }

    public long Accepted => Interlocked.Read(ref _accepted);

    public long Rejected => Interlocked.Read(ref _rejected);

    public bool TryRead(long token, out IReadOnlyList<long> items)
    {
        lock (_gate)
        {
            if (!Admit(token))
            {
                items = [];
                return false;
            }

            items = _items;
            return true;
        }
    }

    public bool TryWrite(long token, IReadOnlyList<long> items)
    {
        lock (_gate)
        {
            if (!Admit(token))
            {
                return false;
            }

            _items = [.. items];
            return true;
        }
    }

    private bool Admit(long token)
    {
        if (token < _highest)
        {
            Interlocked.Increment(ref _rejected);
            return false;
        }

        _highest = token;
        Interlocked.Increment(ref _accepted);
        return true;
    }
}
