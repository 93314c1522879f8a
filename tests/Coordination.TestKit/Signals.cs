using System.Runtime.InteropServices;

namespace Coordination.TestKit;

/// <summary>POSIX signals for crash (SIGKILL), hang (SIGSTOP/SIGCONT) and graceful stop (SIGTERM) tests.</summary>
public static class Signals
{
    public const int Kill = 9;
    public const int Term = 15;
    public const int Stop = 19;
    public const int Continue = 18;

    public static void Send(int pid, int signal)
    {
        if (SendSignal(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
