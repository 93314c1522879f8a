using System.Diagnostics;

namespace Coordination.Silo.Launcher;

/// <summary>One silo process the launcher supervises.</summary>
internal sealed class SiloChild(int index)
{
    /// <summary>How long the launcher waits for its SIGTERM'd silos to stop before it kills them: above a silo host's shutdown timeout.</summary>
    public static readonly TimeSpan StopGrace = SiloHost.SiloProgram.ShutdownTimeout + TimeSpan.FromSeconds(15);

    public int Index { get; } = index;

    public Process? Process { get; set; }

    public int Restarts { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public int? Pid => Process is { HasExited: false } p ? p.Id : null;
}
