using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coordination.TestKit.Faults;

/// <summary>
/// The type of a history event, as in Jepsen: an invocation, then one completion. <see cref="OpType.Ok"/> took
/// effect, <see cref="OpType.Fail"/> certainly did not, <see cref="OpType.Info"/> is unknown: it may or may not have taken
/// effect, at any time after its invocation.
/// </summary>
public enum OpType
{
    Invoke,
    Ok,
    Fail,
    Info,
}

/// <summary>
/// One event of a history. <see cref="Op.F"/> is the function: "acquire" (Result = fencing token on Ok),
/// "release" (A = token), "lost" (a client's lost-lock signal for the grant whose token is A), "read"
/// (Result = value read, null if never written), "write" (A = value), "cas" (A = expected, B = new,
/// Result = 1 if it swapped, 0 if the value did not match; both are Ok). <see cref="Op.Time"/> is a
/// monotonic timestamp in ticks of one clock shared by the whole history.
/// </summary>
public sealed record Op(int Index, int Process, OpType Type, string F, string Key, long? A, long? B, long? Result, long Time, string? Error = null);

/// <summary>
/// An invocation paired with its completion. <see cref="Operation.Outcome"/> is Ok, Fail or Info (Info also when the
/// invocation never completed, then <see cref="Operation.Completed"/> is <see cref="long.MaxValue"/>: an operation
/// of unknown outcome may take effect at any time after its invocation). An instantaneous event (see
/// <see cref="HistoryRecorder.Record"/>) has <see cref="Operation.Invoked"/> equal to <see cref="Operation.Completed"/>.
/// </summary>
public sealed record Operation(int Process, string F, string Key, long? A, long? B, long? Result, OpType Outcome, long Invoked, long Completed, string? Error)
{
    public override string ToString()
    {
        var args = B is null ? $"{A}" : $"{A}, {B}";
        var result = Outcome switch
        {
            OpType.Ok when Result is { } value => $"{value}",
            OpType.Ok => F == "read" ? "null" : "ok",
            OpType.Fail => $"fail ({Error})",
            _ => "info",
        };
        var end = Completed == long.MaxValue ? "∞" : $"{Completed}";
        return $"p{Process} {F}({args}) → {result} [{Invoked}, {end}]";
    }
}

/// <summary>
/// A recorded history: events in the order they were recorded (by <see cref="Op.Index"/>). Invariant of
/// histories built by <see cref="HistoryRecorder"/> (the Jepsen rule): a process has at most one outstanding
/// invocation, and a process whose operation ended in Info is never used again.
/// </summary>
public sealed class History
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public History(IEnumerable<Op> ops)
    {
        Ops = [.. ops.OrderBy(o => o.Index)];
    }

    public IReadOnlyList<Op> Ops { get; }

    /// <summary>The keys in the order they first appear.</summary>
    public IReadOnlyList<string> Keys => [.. Ops.Select(o => o.Key).Distinct()];

    public static History FromJson(string json) =>
        new(JsonSerializer.Deserialize<List<Op>>(json, Json) ?? throw new JsonException("A history is a JSON array of operations."));

    public string ToJson() => JsonSerializer.Serialize(Ops, Json);

    public History ForKey(string key) => new(Ops.Where(o => o.Key == key));

    /// <summary>
    /// Pairs each invocation with the next completion of the same process for the same function and key,
    /// in invocation order. A completion with no such invocation is an instantaneous event (invoked and
    /// completed at its own time). An invocation without a completion is Info, completed at +∞.
    /// </summary>
    /// <exception cref="InvalidOperationException">A process invoked while it had an outstanding invocation.</exception>
    public IReadOnlyList<Operation> Operations()
    {
        var pending = new Dictionary<int, Op>();
        var paired = new List<(int Order, Operation Operation)>(Ops.Count / 2 + 1);
        foreach (var op in Ops)
        {
            if (op.Type == OpType.Invoke)
            {
                if (pending.TryGetValue(op.Process, out var outstanding))
                {
                    throw new InvalidOperationException($"Process {op.Process} invoked event {op.Index} while event {outstanding.Index} was outstanding.");
                }

                pending[op.Process] = op;
            }
            else if (pending.TryGetValue(op.Process, out var invoke) && invoke.F == op.F && invoke.Key == op.Key)
            {
                pending.Remove(op.Process);
                var completed = op.Type == OpType.Info ? long.MaxValue : op.Time;
                paired.Add((invoke.Index, new Operation(invoke.Process, invoke.F, invoke.Key, invoke.A, invoke.B, op.Result, op.Type, invoke.Time, completed, op.Error)));
            }
            else
            {
                var completed = op.Type == OpType.Info ? long.MaxValue : op.Time;
                paired.Add((op.Index, new Operation(op.Process, op.F, op.Key, op.A, op.B, op.Result, op.Type, op.Time, completed, op.Error)));
            }
        }

        foreach (var invoke in pending.Values)
        {
            paired.Add((invoke.Index, new Operation(invoke.Process, invoke.F, invoke.Key, invoke.A, invoke.B, null, OpType.Info, invoke.Time, long.MaxValue, null)));
        }

        return [.. paired.OrderBy(p => p.Order).Select(p => p.Operation)];
    }
}
