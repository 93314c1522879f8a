using Coordination.Replication.Configuration;
using Coordination.Replication.Protocol;

namespace Coordination.Replication.Faults;

/// <summary>
/// BROKEN ON PURPOSE (<see cref="Hosting.UnsafeControl.LeaseOnly"/>): a register whose value lives only in
/// this object's memory. Changes are batched as the real proposer batches them, but no replica ever sees
/// one, so a failover forgets every grant: a lease-only lock, as a single Redis node gives. It exists so the
/// fault suite can prove its checkers catch it; <see cref="Hosting.RegisterFactory"/> makes it only when the
/// silo host set that control, which needs the host's fault injection.
/// </summary>
internal sealed class LeaseOnlyRegister<TValue> : IRegister<TValue> where TValue : class
{
    private readonly GroupCommitQueue<TValue> _queue;
    private readonly IPartitionDirectory _directory;
    private TValue? _value;

    public LeaseOnlyRegister(string key, IPartitionDirectory directory, TimeProvider time, ProposerOptions options)
    {
        Key = key;
        Partition = Partitioner.PartitionOf(key, directory.PartitionCount);
        _directory = directory;
        _queue = new GroupCommitQueue<TValue>(time, options.MaxBatch, options.Linger, CommitInMemory);
    }

    public string Key { get; }

    public int Partition { get; }

    /// <summary>Always null, as the real proposer's is without a promise: this register never prepares.</summary>
    public TValue? CachedValue => null;

    public long Rounds { get; private set; }

    public Action<TValue?>? Committed { get; set; }

    public Task<TResult> ExecuteAsync<TResult>(RegisterChange<TValue, TResult> change) => _queue.Enqueue(change);

    public Task<TResult> ExecuteLaterAsync<TResult>(RegisterChange<TValue, TResult> change, Func<bool> lingerWhile) => _queue.Enqueue(change, lingerWhile: lingerWhile);

    /// <summary>Nothing to forget: there is no promise.</summary>
    public void Invalidate()
    {
    }

    /// <summary>Always 0: there is no promise to lose.</summary>
    public long Generation => 0;

    public ValueTask<RegisterView<TValue>> PeekAsync() => new(new RegisterView<TValue>(_value, 0));

    /// <summary>The batch applies to this register's memory, and nothing else knows.</summary>
    private Task CommitInMemory(ChangeBatch<TValue> batch)
    {
        var config = _directory.Get(Partition);
        _value = batch.Apply(_value, new RegisterContext(config.TokenEpoch, config.Epoch)).Next;
        Rounds++;
        Committed?.Invoke(_value);
        batch.Complete();
        return Task.CompletedTask;
    }
}
