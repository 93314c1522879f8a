using System.Diagnostics;

namespace Coordination.TestKit.Faults;

/// <summary>
/// The Wing–Gong–Lowe linearizability search (Wing &amp; Gong 1993; Lowe 2017, "Testing for
/// linearizability", with its cache of (linearized set, state) pairs), as Porcupine implements it. The
/// history becomes a doubly linked list of call and return entries sorted by time; the search repeatedly
/// takes a call that precedes the first remaining return, applies it to the model and lifts it and its
/// return out of the list, and backtracks (unlifting, dancing-links style) when it meets a return whose
/// operation it could not place.
/// Conventions:
/// Fail operations did not happen and are dropped.
/// Info operations return at +∞ and may be left out: the search succeeds once every Ok operation is
/// linearized (Knossos treats indeterminate operations the same way).
/// At equal times calls sort before returns, so an operation invoked at t and one completed at t count as
/// concurrent (a conservative reading of timestamps from a coarse or shared clock).
/// Linearizability is local (Herlihy &amp; Wing 1990), so <c>CheckPerKey</c> checks each key alone.
/// </summary>
public static class Linearizability
{
    private const int BudgetCheckInterval = 4096;
    private const int ShownPrefix = 3;
    private const int ShownCandidates = 6;

    /// <exception cref="ArgumentException">An operation completed before it was invoked, or the model does not know one.</exception>
    public static LinearizabilityResult Check<TState>(IReadOnlyList<Operation> ops, IModel<TState> model, TimeSpan budget)
    {
        var started = Stopwatch.GetTimestamp();
        var live = ops.Where(o => o.Outcome != OpType.Fail).ToList();
        var backwards = live.FirstOrDefault(o => o.Completed < o.Invoked);
        if (backwards is not null)
        {
            throw new ArgumentException($"{backwards} completed before it was invoked.", nameof(ops));
        }

        var mustPlace = live.Count(o => o.Outcome == OpType.Ok);
        var head = Link(live);
        var linearized = new Bitset(live.Count);
        var cache = new HashSet<(Bitset, TState)>();
        var calls = new List<(Entry Call, TState Before)>();
        var prefix = new LongestPrefix(live.Count);
        var state = model.Init;
        var placed = 0;
        var entry = head.Next;
        for (long step = 0; placed < mustPlace; step++)
        {
            if (step % BudgetCheckInterval == 0 && Stopwatch.GetElapsedTime(started) >= budget)
            {
                return new LinearizabilityResult(LinearizabilityOutcome.Unknown, live.Count, cache.Count,
                    $"search budget of {budget} exhausted after {step} steps; the longest linearizable prefix so far has {prefix.Length} operations");
            }

            var current = entry ?? throw new InvalidOperationException("The entry list ended before every completed operation was linearized.");
            if (current.Match is { } match)
            {
                var op = live[current.Id];
                if (model.Step(state, op, out var next) && cache.Add((linearized.With(current.Id), next)))
                {
                    calls.Add((current, state));
                    prefix.Push(calls.Count - 1, current.Id);
                    state = next;
                    linearized.Set(current.Id);
                    placed += op.Outcome == OpType.Ok ? 1 : 0;
                    Lift(current, match);
                    entry = head.Next;
                }
                else
                {
                    entry = current.Next;
                }
            }
            else
            {
                if (calls.Count == 0)
                {
                    return new LinearizabilityResult(LinearizabilityOutcome.Illegal, live.Count, cache.Count, Explain(live, model, prefix.Ids, mustPlace));
                }

                var (call, before) = calls[^1];
                calls.RemoveAt(calls.Count - 1);
                prefix.Pop(calls.Count);
                state = before;
                linearized.Clear(call.Id);
                placed -= live[call.Id].Outcome == OpType.Ok ? 1 : 0;
                Unlift(call, call.Match!);
                entry = call.Next;
            }
        }

        return new LinearizabilityResult(LinearizabilityOutcome.Ok, live.Count, cache.Count, null);
    }

    /// <summary>
    /// Checks each key's operations alone (P-compositionality: linearizability is local, Herlihy &amp; Wing
    /// 1990; Lowe 2017). Keys are chosen by <paramref name="keyFilter"/>, operations by
    /// <paramref name="opFilter"/> (for example to leave "lost" events out of a mutex check). The budget
    /// applies to each key.
    /// </summary>
    public static IReadOnlyDictionary<string, LinearizabilityResult> CheckPerKey<TState>(
        History h, Func<string, bool> keyFilter, IModel<TState> model, TimeSpan budget, Func<Operation, bool>? opFilter = null) =>
        h.Operations()
            .Where(o => keyFilter(o.Key) && (opFilter is null || opFilter(o)))
            .GroupBy(o => o.Key)
            .ToDictionary(g => g.Key, g => Check([.. g], model, budget));

    private static Entry Link(List<Operation> live)
    {
        var entries = new List<Entry>(live.Count * 2);
        for (var id = 0; id < live.Count; id++)
        {
            var op = live[id];
            var ret = new Entry(id, op.Outcome == OpType.Info ? long.MaxValue : op.Completed);
            entries.Add(new Entry(id, op.Invoked) { Match = ret });
            entries.Add(ret);
        }

        entries.Sort(CompareEntries);
        var head = new Entry(-1, long.MinValue);
        var last = head;
        foreach (var entry in entries)
        {
            last.Next = entry;
            entry.Prev = last;
            last = entry;
        }

        return head;
    }

    private static int CompareEntries(Entry x, Entry y)
    {
        if (x.Time != y.Time)
        {
            return x.Time.CompareTo(y.Time);
        }

        if (x.IsCall != y.IsCall)
        {
            return x.IsCall ? -1 : 1;
        }

        return x.Id.CompareTo(y.Id);
    }

    private static void Lift(Entry call, Entry ret)
    {
        call.Prev!.Next = call.Next;
        call.Next!.Prev = call.Prev;
        ret.Prev!.Next = ret.Next;
        ret.Next?.Prev = ret.Prev;
    }

    private static void Unlift(Entry call, Entry ret)
    {
        ret.Prev!.Next = ret;
        ret.Next?.Prev = ret;

        call.Prev!.Next = call;
        call.Next!.Prev = call;
    }

    private static string Explain<TState>(List<Operation> live, IModel<TState> model, IReadOnlyList<int> prefix, int mustPlace)
    {
        var state = model.Init;
        foreach (var id in prefix)
        {
            model.Step(state, live[id], out var next);
            state = next;
        }

        var placed = prefix.ToHashSet();
        var remaining = Enumerable.Range(0, live.Count).Where(i => !placed.Contains(i)).ToList();
        var firstReturn = remaining.Where(i => live[i].Outcome == OpType.Ok).Select(i => live[i].Completed).DefaultIfEmpty(long.MaxValue).Min();
        var candidates = remaining
            .Where(i => live[i].Invoked <= firstReturn)
            .OrderBy(i => live[i].Outcome == OpType.Ok ? 0 : 1)
            .Select(i => model.Step(state, live[i], out _) ? $"{live[i]} (legal, but nothing linearizes after it)" : $"{live[i]} (illegal here)")
            .ToList();
        var after = prefix.Count == 0
            ? "no operation can be linearized first"
            : $"after {prefix.Count} operations ({(prefix.Count > ShownPrefix ? "…, " : string.Empty)}{string.Join(", ", prefix.TakeLast(ShownPrefix).Select(i => live[i]))}) in state {state}";
        var shown = string.Join("; ", candidates.Take(ShownCandidates)) + (candidates.Count > ShownCandidates ? $"; and {candidates.Count - ShownCandidates} more" : string.Empty);
        return $"not linearizable: {mustPlace} completed operations, longest linearizable prefix {after}; could not place next: {shown}";
    }

    private sealed class Entry(int id, long time)
    {
        public int Id { get; } = id;

        public long Time { get; } = time;

        /// <summary>The return entry of a call entry; null for return entries.</summary>
        public Entry? Match { get; init; }

        public bool IsCall => Match is not null;

        public Entry? Prev { get; set; }

        public Entry? Next { get; set; }
    }

    /// <summary>
    /// The longest stack of linearized operations seen, kept incrementally: the stack's first
    /// <c>_matching</c> ids are known to equal the record's, so only the rest is copied when it grows.
    /// </summary>
    private sealed class LongestPrefix(int capacity)
    {
        private readonly int[] _stack = new int[capacity];
        private readonly int[] _best = new int[capacity];
        private int _matching;

        public int Length { get; private set; }

        public IReadOnlyList<int> Ids => _best[..Length];

        public void Push(int depth, int id)
        {
            _stack[depth] = id;
            if (depth + 1 > Length)
            {
                Array.Copy(_stack, _matching, _best, _matching, depth + 1 - _matching);
                Length = depth + 1;
                _matching = Length;
            }
        }

        public void Pop(int depth) => _matching = Math.Min(_matching, depth);
    }
}
