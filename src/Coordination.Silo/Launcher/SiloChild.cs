using System.Diagnostics;

namespace Coordination.Silo.Launcher;

/// <summary>One silo process the launcher supervises.</summary>
internal sealed class SiloChild(int index)
{
    public int Index { get; } = index;

    public Process? Process { get; set; }

    public int Restarts { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public int? Pid => Process is { HasExited: false } p ? p.Id : null;
}
