namespace Coordination.TestKit.Faults;

/// <summary>
/// The semaphore and reader-writer keys of a fault run, as the workers' second loop reads them: <c>s{N}:name</c> a
/// semaphore of N permits, <c>rw:name</c> a reader-writer lock. A permit holder writes the fenced resource of slot
/// (token mod N), <c>s{N}:name/slot{i}</c>; a writer writes the lock's own.
/// </summary>
public sealed record SharedKeys(IReadOnlyDictionary<string, int> Semaphores, IReadOnlySet<string> ReaderWriterLocks)
{
    public static readonly SharedKeys None = new(new Dictionary<string, int>(), new HashSet<string>());

    public IEnumerable<string> All => Semaphores.Keys.Concat(ReaderWriterLocks);

    /// <summary>The fenced resources the shared workload writes: every slot of every semaphore, and every reader-writer lock's own.</summary>
    public IEnumerable<string> Resources => Semaphores.SelectMany(s => Enumerable.Range(0, s.Value).Select(i => $"{s.Key}/slot{i}")).Concat(ReaderWriterLocks);

    public bool Contains(string key) => Semaphores.ContainsKey(key) || ReaderWriterLocks.Contains(key);

    public static SharedKeys Of(FaultRunOptions o) => o.SemaphorePermits <= 0
        ? None
        : new(new Dictionary<string, int> { [$"s{o.SemaphorePermits}:faults/{o.Seed}/s0"] = o.SemaphorePermits }, new HashSet<string> { $"rw:faults/{o.Seed}/w0" });
}
