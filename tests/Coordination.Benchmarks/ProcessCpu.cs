using System.Diagnostics;
using System.Globalization;

namespace Coordination.Benchmarks;

/// <summary>
/// CPU time (user + system) of server processes, read from <c>/proc/PID/stat</c>. A server is counted as
/// the whole tree under its root processes: every live descendant's own time, plus the time of children
/// already reaped (the kernel adds a waited-for child's time to its parent's cutime/cstime), so a
/// PostgreSQL backend that exits during a run still counts. Differences of two readings are what matter.
/// </summary>
internal static class ProcessCpu
{
    private static readonly Lazy<double> TicksPerSecond = new(ReadClockTicks);

    /// <summary>The CPU time spent so far by the trees rooted at <paramref name="roots"/>.</summary>
    public static TimeSpan OfTrees(IEnumerable<int> roots)
    {
        var all = Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? Read(pid) : null)
            .OfType<Stat>()
            .ToList();
        var children = all.ToLookup(s => s.ParentPid);
        var byPid = all.ToDictionary(s => s.Pid);
        var pending = new Stack<Stat>(roots.Distinct().Where(byPid.ContainsKey).Select(p => byPid[p]));
        var seen = new HashSet<int>();
        long ticks = 0;
        while (pending.TryPop(out var stat))
        {
            if (!seen.Add(stat.Pid))
            {
                continue;
            }

            ticks += stat.Ticks;
            foreach (var child in children[stat.Pid])
            {
                pending.Push(child);
            }
        }

        return TimeSpan.FromSeconds(ticks / TicksPerSecond.Value);
    }

    /// <summary>This process's own CPU time (its threads, not its children): in the benchmark, the clients'.</summary>
    public static TimeSpan OfThisProcess()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static Stat? Read(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            // The process exited while we listed /proc.
            return null;
        }

        // The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
        // Fields from there: 3 state, 4 ppid, ... 14 utime, 15 stime, 16 cutime, 17 cstime.
        var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        long Field(int n) => long.Parse(f[n - 3], CultureInfo.InvariantCulture);
        return new Stat(pid, (int)Field(4), Field(14) + Field(15) + Field(16) + Field(17));
    }

    private static double ReadClockTicks()
    {
        using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = getconf.StandardOutput.ReadToEnd();
        getconf.WaitForExit();
        return double.TryParse(output.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var hz) && hz > 0 ? hz : 100;
    }

    private sealed record Stat(int Pid, int ParentPid, long Ticks);
}
