using System.Diagnostics;

namespace Coordination.TestKit.Faults;

/// <summary>
/// Records a history from many threads (Jepsen's model: Kingsbury, "Jepsen" analyses; Wing &amp; Gong 1993
/// for the call/return view). The clock is read under the recorder's lock, so event times never decrease in
/// index order. Invariants enforced: a process has at most one outstanding invocation; a process whose
/// operation completed with Info is retired and may not invoke again (Jepsen opens a new process instead);
/// each invocation completes at most once.
/// </summary>
public sealed class HistoryRecorder
{
    private readonly Func<long> _clock;
    private readonly Lock _gate = new();
    private readonly List<Op> _ops = [];
    private readonly Dictionary<int, Op> _outstanding = [];
    private readonly HashSet<int> _retired = [];

    public HistoryRecorder(Func<long>? clock = null)
    {
        _clock = clock ?? Stopwatch.GetTimestamp;
    }

    /// <exception cref="InvalidOperationException">The process has an outstanding invocation or was retired by an Info.</exception>
    public OpHandle Invoke(int process, string f, string key, long? a = null, long? b = null)
    {
        lock (_gate)
        {
            if (_outstanding.TryGetValue(process, out var outstanding))
            {
                throw new InvalidOperationException($"Process {process} invoked {f} on {key} while its {outstanding.F} (event {outstanding.Index}) is outstanding.");
            }

            if (_retired.Contains(process))
            {
                throw new InvalidOperationException($"Process {process} had an operation end in Info and may not be reused.");
            }

            var op = new Op(_ops.Count, process, OpType.Invoke, f, key, a, b, null, _clock());
            _ops.Add(op);
            _outstanding[process] = op;
            return new OpHandle(this, op);
        }
    }

    /// <summary>
    /// Records an instantaneous event, such as a client's "lost" signal, as a single Ok event with no
    /// invocation; <see cref="History.Operations"/> turns it into an operation invoked and completed at its time.
    /// </summary>
    /// <exception cref="ArgumentException">The process has an outstanding invocation of the same function and key, which would make the pairing ambiguous.</exception>
    public void Record(int process, string f, string key, long? a, long? result)
    {
        lock (_gate)
        {
            if (_outstanding.TryGetValue(process, out var outstanding) && outstanding.F == f && outstanding.Key == key)
            {
                throw new ArgumentException($"Process {process} has an outstanding {f} on {key}; an instantaneous {f} would be paired with it.", nameof(f));
            }

            _ops.Add(new Op(_ops.Count, process, OpType.Ok, f, key, a, null, result, _clock()));
        }
    }

    public History Snapshot()
    {
        lock (_gate)
        {
            return new History(_ops);
        }
    }

    internal void Complete(Op invoke, OpType type, long? result, string? error)
    {
        lock (_gate)
        {
            _outstanding.Remove(invoke.Process);
            if (type == OpType.Info)
            {
                _retired.Add(invoke.Process);
            }

            _ops.Add(new Op(_ops.Count, invoke.Process, type, invoke.F, invoke.Key, invoke.A, invoke.B, result, _clock(), error));
        }
    }
}

/// <summary>An outstanding invocation. Completes exactly once, with Ok, Fail or Info; a second completion throws.</summary>
public sealed class OpHandle
{
    private readonly HistoryRecorder _recorder;
    private readonly Op _invoke;
    private int _completed;

    internal OpHandle(HistoryRecorder recorder, Op invoke)
    {
        _recorder = recorder;
        _invoke = invoke;
    }

    public int Process => _invoke.Process;

    public string F => _invoke.F;

    public string Key => _invoke.Key;

    /// <summary>It took effect; <paramref name="result"/> is the observed output.</summary>
    public void Ok(long? result = null) => Complete(OpType.Ok, result, null);

    /// <summary>It certainly did not take effect.</summary>
    public void Fail(string error) => Complete(OpType.Fail, null, error);

    /// <summary>Unknown whether it took effect (a timeout, a lost connection). Retires the process.</summary>
    public void Info(string error) => Complete(OpType.Info, null, error);

    private void Complete(OpType type, long? result, string? error)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            throw new InvalidOperationException($"Process {_invoke.Process}'s {_invoke.F} (event {_invoke.Index}) was already completed.");
        }

        _recorder.Complete(_invoke, type, result, error);
    }
}
