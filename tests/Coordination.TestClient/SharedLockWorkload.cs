using System.Globalization;
using Coordination.Client;

/// <summary>Writes one history line: <c>OP process type f key a b result time [error]</c> (see <see cref="FaultWorker"/>).</summary>
internal delegate void HistoryLine(int process, string type, string f, string key, long? a, long? b, long? result, string? error = null);

/// <summary>
/// The semaphore and reader-writer workload of a fault-suite worker, run beside its lock loop in the same process,
/// under the same faults, through a session of its own, as process ids <see cref="ProcessOffset"/> above the lock
/// loop's. Keys: <c>s{N}:name</c> is a semaphore of N permits, <c>rw:name</c> a reader-writer lock. A permit holder
/// does the lock-set step on the fenced resource of the slot its token picks (token mod N: a slot is a resource the
/// permits share, so a holder with a stale token is refused there); a writer does it on the lock's own resource; a
/// reader only holds. Acquires of a reader-writer key carry A = 1 for write, 0 for read.
/// </summary>
internal static class SharedLockWorkload
{
    /// <summary>Added to the lock loop's process ids (a worker's block is 100,000 wide; generations stay far below).</summary>
    public const int ProcessOffset = 50_000;

    public static bool IsShared(string key) => key.StartsWith("rw:", StringComparison.Ordinal) || Permits(key) > 0;

    public static async Task RunAsync(ICoordinationClient client, string[] keys, int worker, string resourceDirectory, int seed, HistoryLine line, Action<Exception, string> untyped, CancellationToken stop)
    {
        var random = new Random(seed);
        var generation = 0;
        var element = 0L;
        CoordinationSession? session = null;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (session is null || session.IsLost)
                {
                    generation += session is null ? 0 : 1;
                    session = await client.OpenSessionAsync();
                }
            }
            catch (Exception ex)
            {
                untyped(ex, "open-session");
                await Task.Delay(100); // allowed: the workload's back-off before it opens a session again, not a wait for a state
                continue;
            }

            var key = keys[random.Next(keys.Length)];
            var process = (worker * 100_000) + ProcessOffset + generation;
            var permits = Permits(key);
            var name = key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..];
            var writes = permits == 0 && random.Next(3) == 0;
            line(process, "invoke", "acquire", key, permits > 0 ? null : writes ? 1 : 0, null, null);
            CoordinationLeaseHandle? handle;
            try
            {
                var patience = TimeSpan.FromSeconds(4);
                handle = permits > 0 ? await session.CreateSemaphore(name, permits).TryAcquireAsync(patience)
                    : writes ? await session.CreateReaderWriterLock(name).TryAcquireWriteLockAsync(patience)
                    : await session.CreateReaderWriterLock(name).TryAcquireReadLockAsync(patience);
            }
            catch (Exception ex)
            {
                untyped(ex, "acquire");
                line(process, "info", "acquire", key, null, null, null, ex.GetType().Name);
                generation++;
                continue;
            }

            if (handle is null)
            {
                line(process, "fail", "acquire", key, null, null, null, "timeout");
                continue;
            }

            var token = handle.FencingToken;
            line(process, "ok", "acquire", key, null, null, token);
            var holder = session;
            var lost = handle.HandleLostToken.Register(() => line(process, "ok", "lost", key, token, null, null, holder.LostReason ?? handle.RevokedReason));
            if (permits > 0 || writes)
            {
                var resource = permits > 0 ? string.Create(CultureInfo.InvariantCulture, $"{key}/slot{token % permits}") : key;
                await FaultWorker.LockSetStepAsync(line, process, resource, token, (worker * 1_000_000_000L) + 500_000_000L + ++element, resourceDirectory, random);
            }
            else
            {
                await Task.Delay(FaultWorker.Hold(random)); // allowed: a reader's hold (the workload), not a wait for a state
            }

            await lost.DisposeAsync();
            line(process, "invoke", "release", key, token, null, null);
            try
            {
                await handle.DisposeAsync();
                line(process, "ok", "release", key, token, null, null);
            }
            catch (Exception ex)
            {
                untyped(ex, "release");
                line(process, "info", "release", key, token, null, null, ex.GetType().Name);
                generation++;
            }

            await Task.Delay(random.Next(0, 20)); // allowed: the workload's pace between operations
        }

        if (session is not null)
        {
            try
            {
                await session.CloseAsync();
            }
            catch (Exception ex)
            {
                // Its session expires on its own.
                untyped(ex, "close");
            }
        }
    }

    /// <summary>N for a key <c>s{N}:name</c>; 0 for any other.</summary>
    private static int Permits(string key)
    {
        var colon = key.IndexOf(':', StringComparison.Ordinal);
        return key.StartsWith('s') && colon > 1 && int.TryParse(key.AsSpan(1, colon - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }
}
