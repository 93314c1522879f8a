using System.Globalization;
using System.Text;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

namespace Coordination.Benchmarks;

/// <summary>
/// What a process allocated, from an EventPipe trace with the runtime's allocation samples (<c>dotnet-trace collect
/// --profile gc-verbose</c>, or <c>profile --trace F --trace-profile gc-verbose</c>): the sampled bytes by type, and
/// by each method of ours or Orleans' on the samples' stacks (inclusive, a method counted once per sample).
/// </summary>
/// <remarks>
/// The runtime reports an allocation sample about every 100 KB a thread allocates, naming the object that crossed the
/// mark, so the shares are estimates of where the bytes go, not exact totals: 12 s of a silo under `profile --scenario
/// fresh` gave about 1,700 samples (171 MiB), enough to rank the top entries, each within a point or two.
/// </remarks>
internal static class AllocationReport
{
    /// <summary>Frames whose method belongs to these namespaces are counted by frame.</summary>
    private static readonly string[] Namespaces = ["Coordination.", "Orleans."];

    public static string Summarize(string traceFile, int top)
    {
        if (!File.Exists(traceFile))
        {
            throw new FileNotFoundException($"No trace at {traceFile}: collect one with dotnet-trace collect -p PID --profile gc-verbose, or profile --trace {traceFile} --trace-profile gc-verbose.", traceFile);
        }

        var byType = new Dictionary<string, long>(StringComparer.Ordinal);
        var byFrame = new Dictionary<string, long>(StringComparer.Ordinal);
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        long total = 0;
        long samples = 0;
        var etlx = TraceLog.CreateFromEventPipeDataFile(traceFile);
        try
        {
            using var log = new TraceLog(etlx);
            foreach (var e in log.Events)
            {
                if (e is not GCAllocationTickTraceData tick)
                {
                    continue;
                }

                var bytes = tick.AllocationAmount64;
                total += bytes;
                samples++;
                var type = string.IsNullOrEmpty(tick.TypeName) ? "(unnamed)" : tick.TypeName;
                byType[type] = byType.GetValueOrDefault(type) + bytes;
                onStack.Clear();
                for (var frame = e.CallStack(); frame is not null; frame = frame.Caller)
                {
                    var method = frame.CodeAddress.FullMethodName;
                    if (!string.IsNullOrEmpty(method) && Namespaces.Any(n => method.StartsWith(n, StringComparison.Ordinal)) && onStack.Add(method))
                    {
                        byFrame[method] = byFrame.GetValueOrDefault(method) + bytes;
                    }
                }
            }
        }
        finally
        {
            File.Delete(etlx);
        }

        if (samples == 0)
        {
            throw new InvalidOperationException($"{traceFile} has no allocation samples: collect it with the gc-verbose profile.");
        }

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{samples:N0} allocation samples, {total / 1048576.0:0.0} MiB sampled; by type:");
        Append(sb, byType, total, top);
        sb.AppendLine("by method of ours or Orleans' on the stack (inclusive):");
        Append(sb, byFrame, total, top);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, Dictionary<string, long> bytes, long total, int top)
    {
        foreach (var (name, amount) in bytes.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(top))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{amount * 100.0 / total,6:0.0} %  {name}");
        }
    }
}
