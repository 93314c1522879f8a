using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Coordination;
using Coordination.Client;

/// <summary>
/// One client of the fault suite, as its own process so the suite can SIGSTOP it: a session, and a loop of
/// acquire → (lock-set: read the fenced resource, pause, write it back with one element added) → release on
/// random keys: the hot ones, and with a fresh-name prefix also names that live for a few seconds (see
/// <see cref="FreshKey"/>), so registers are deleted when idle and created again under faults. Every operation goes to stdout as history lines, timed with Stopwatch ticks
/// (CLOCK_MONOTONIC, comparable across processes):
/// <c>OP process type f key a b result time [error]</c>, type one of invoke/ok/fail/info, "-" for none.
/// After an operation whose outcome is unknown (info) the worker continues as a new process id, as Jepsen
/// does; a lost session is replaced by a new one. Semaphore and reader-writer keys among the keys run in a second
/// loop beside this one (<see cref="SharedLockWorkload"/>). Stops at "stop" on stdin, releasing what it holds.
/// </summary>
internal static class FaultWorker
{
    /// <summary>
    /// A lock, or for keys starting "e:" leadership of an election (a campaign of at most 4 s; its term is the
    /// token). Null when not granted in time: the request or candidacy was withdrawn.
    /// </summary>
    private static async Task<CoordinationGrant?> AcquireAsync(CoordinationSession session, string key)
    {
        if (!key.StartsWith("e:", StringComparison.Ordinal))
        {
            return await session.CreateLock(key).TryAcquireAsync(TimeSpan.FromSeconds(4));
        }

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        try
        {
            return await session.CreateElection(key[2..]).CampaignAsync("worker", patience.Token);
        }
        catch (OperationCanceledException) when (patience.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// A name of the moment, shared by every worker (they read the same monotonic clock): the current or the
    /// previous second's, so workers contend on it for about two seconds and then leave it idle, to be deleted;
    /// one pick in six goes back to a name of up to 90 s ago, likely deleted by now, whose new grants must carry
    /// tokens above every grant it had before.
    /// </summary>
    private static string FreshKey(string prefix, Random random)
    {
        var second = Stopwatch.GetTimestamp() / Stopwatch.Frequency;
        var age = random.Next(6) == 0 ? random.Next(2, 90) : random.Next(2);
        return string.Create(CultureInfo.InvariantCulture, $"{prefix}/s{second - age}");
    }

    /// <summary>Mostly short holds; one in five long enough for a fault to land inside it.</summary>
    internal static int Hold(Random random) => random.NextDouble() < 0.2 ? random.Next(200, 1500) : random.Next(0, 30);

    /// <param name="freshPrefix">When set, two picks in five are a fresh name under it (<see cref="FreshKey"/>) instead of a hot key.</param>
    public static async Task<int> RunAsync(ICoordinationClient client, string[] keys, int worker, string resourceDirectory, int seed, bool lockSet, string? freshPrefix, TextWriter output)
    {
        var random = new Random(seed);
        var gate = new Lock();
        var generation = 0;
        var element = 0L;
        int Process() => (worker * 100_000) + generation;
        void Line(int process, string type, string f, string key, long? a, long? b, long? result, string? error = null)
        {
            var text = string.Create(CultureInfo.InvariantCulture, $"OP {process} {type} {f} {key} {a?.ToString(CultureInfo.InvariantCulture) ?? "-"} {b?.ToString(CultureInfo.InvariantCulture) ?? "-"} {result?.ToString(CultureInfo.InvariantCulture) ?? "-"} {Stopwatch.GetTimestamp()}{(error is null ? string.Empty : " " + error.ReplaceLineEndings(" "))}");
            lock (gate)
            {
                output.WriteLine(text);
                output.Flush();
            }
        }

        using var stop = new CancellationTokenSource();
        _ = Task.Run(() =>
        {
            while (Console.ReadLine() is { } line && line.Trim() != "stop")
            {
            }

            stop.Cancel();
        });

        // Every error our client raises is one of ours (or a timeout/cancellation); anything else is reported as untyped.
        void Untyped(Exception ex, string operation)
        {
            if (ex is not (CoordinationException or TimeoutException or OperationCanceledException))
            {
                lock (gate)
                {
                    output.WriteLine($"UNTYPED {operation}: {ex.GetType().FullName}: {ex.Message.ReplaceLineEndings(" ")} at {string.Join(" < ", (ex.StackTrace ?? string.Empty).Split('\n').Where(f => f.Contains("Coordination.", StringComparison.Ordinal)).Take(3).Select(f => f.Trim()))}");
                    output.Flush();
                }
            }
        }

        // Semaphores and reader-writer locks, beside the locks in the same process, under the same faults.
        var shared = keys.Where(SharedLockWorkload.IsShared).ToArray();
        keys = [.. keys.Where(k => !SharedLockWorkload.IsShared(k))];
        var sharedLoop = shared.Length == 0
            ? Task.CompletedTask
            : Task.Run(() => SharedLockWorkload.RunAsync(client, shared, worker, resourceDirectory, seed + 7, Line, Untyped, stop.Token));

        CoordinationSession? session = null;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (session is null || session.IsLost)
                {
                    if (session is not null)
                    {
                        generation++;
                    }

                    session = await client.OpenSessionAsync();
                }
            }
            catch (Exception ex)
            {
                Untyped(ex, "open-session");

                await Task.Delay(100); // allowed: the workload's back-off before it opens a session again, not a wait for a state
                continue;
            }

            var key = freshPrefix is not null && random.Next(5) < 2 ? FreshKey(freshPrefix, random) : keys[random.Next(keys.Length)];
            var process = Process();
            Line(process, "invoke", "acquire", key, null, null, null);
            CoordinationGrant? grant;
            try
            {
                grant = await AcquireAsync(session, key);
            }
            catch (Exception ex)
            {
                Untyped(ex, "acquire");
                Line(process, "info", "acquire", key, null, null, null, ex.GetType().Name);
                generation++;
                continue;
            }

            if (grant is null)
            {
                // TryAcquire timed out and withdrew the request, undoing a grant that raced the withdrawal.
                Line(process, "fail", "acquire", key, null, null, null, "timeout");
                continue;
            }

            var token = grant is CoordinationLockHandle h ? h.FencingToken : ((CoordinationLeadership)grant).Term;
            Line(process, "ok", "acquire", key, null, null, token);
            var lostToken = grant is CoordinationLockHandle l ? l.HandleLostToken : ((CoordinationLeadership)grant).LeadershipLostToken;
            var lost = lostToken.Register(() => Line(process, "ok", "lost", key, token, null, null, session.LostReason ?? grant.RevokedReason));
            if (lockSet)
            {
                await LockSetStepAsync(Line, process, key, token, (worker * 1_000_000_000L) + (++element), resourceDirectory, random);
            }
            else
            {
                await Task.Delay(Hold(random));
            }

            await lost.DisposeAsync();
            Line(process, "invoke", "release", key, token, null, null);
            try
            {
                await (grant is CoordinationLockHandle held ? held.DisposeAsync().AsTask() : ((CoordinationLeadership)grant).ResignAsync());
                Line(process, "ok", "release", key, token, null, null);
            }
            catch (Exception ex)
            {
                Untyped(ex, "release");
                Line(process, "info", "release", key, token, null, null, ex.GetType().Name);
                generation++;
            }

            await Task.Delay(random.Next(0, 20));
        }

        await sharedLoop;
        if (session is not null)
        {
            try
            {
                await session.CloseAsync();
            }
            catch (Exception ex)
            {
                // Its session expires on its own.
                Untyped(ex, "close");
            }
        }

        return 0;
    }

    /// <summary>
    /// The lock-set step under a grant with <paramref name="token"/>: read the fenced resource of <paramref name="key"/>,
    /// hold, write it back with <paramref name="added"/> appended; recorded as a "write" of that element.
    /// </summary>
    internal static async Task LockSetStepAsync(HistoryLine line, int process, string key, long token, long added, string resourceDirectory, Random random)
    {
        line(process, "invoke", "write", key, added, null, null);
        var resource = new FencedFile(Path.Combine(resourceDirectory, FencedFile.FileName(key)));
        if (!resource.TryRead(token, out var items))
        {
            line(process, "fail", "write", key, added, null, null, "fenced: stale token on read");
            return;
        }

        await Task.Delay(Hold(random)); // allowed: the holder's pause inside its grant (the workload), not a wait for a state
        line(process, resource.TryWrite(token, [.. items, added]) ? "ok" : "fail", "write", key, added, null, null);
    }
}

/// <summary>
/// The resource a lock protects, shared by the worker processes (Kleppmann's fenced storage): a file with the
/// highest token seen and a list; a read or write with a lower token is refused. One flock around each access.
/// </summary>
internal sealed class FencedFile(string path)
{
    public static string FileName(string key) => Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(key)) + ".json";

    public bool TryRead(long token, out long[] items)
    {
        var result = Locked(state => (state.Token <= token, state with { Token = Math.Max(state.Token, token) }));
        items = result.State.Items;
        return result.Accepted;
    }

    public bool TryWrite(long token, long[] items) =>
        Locked(state => state.Token <= token ? (true, new State(token, items)) : (false, state)).Accepted;

    private (bool Accepted, State State) Locked(Func<State, (bool Accepted, State Next)> change)
    {
        while (true)
        {
            try
            {
                using var guard = new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                var state = File.Exists(path) ? JsonSerializer.Deserialize<State>(File.ReadAllText(path))! : new State(long.MinValue, []);
                var (accepted, next) = change(state);
                if (next != state)
                {
                    File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(next));
                    File.Move(path + ".tmp", path, overwrite: true);
                }

                return (accepted, accepted ? next : state);
            }
            catch (IOException)
            {
                // FileShare.None fails at once instead of blocking while another worker holds the file.
                Thread.Sleep(1); // allowed: back-off on a busy file lock, not a wait for a state
            }
        }
    }

    internal sealed record State(long Token, long[] Items);
}
