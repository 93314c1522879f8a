using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Coordination.Silo.LocalClustering;

/// <summary>
/// The few Linux file calls .NET does not expose: a plain open (every .NET open takes an flock of its own,
/// which would fight ours), flock(2), and fsync(2) of a directory (.NET refuses to open directories).
/// </summary>
internal static class NativeFiles
{
    private const int ReadOnly = 0x0;
    private const int ReadWrite = 0x2;
    private const int Create = 0x40;
    private const int ReadWriteForAll = 0x1B6; // 0666, less the umask, as .NET creates files

    // Not inherited by the silo processes the launcher starts: an inherited descriptor would keep the lock
    // alive in the child after this process released or lost it.
    private const int CloseOnExec = 0x80000;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int Interrupted = 4;
    private const int WouldBlock = 11;

    /// <summary>O_DIRECTORY: the one flag used here whose value differs between Linux architectures.</summary>
    private static int Directory => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    /// <summary>Opens (creating it if needed) a lock file without taking any lock on it.</summary>
    public static SafeFileHandle OpenLockFile(string path)
    {
        EnsureLinux();
        var fd = Open(path, ReadWrite | Create | CloseOnExec, ReadWriteForAll);
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw Error("open", path);
    }

    /// <summary>LOCK_EX | LOCK_NB: true when taken, false when another open file holds it.</summary>
    public static bool TryLock(SafeFileHandle file, string path) => Flock(file, path, LockExclusive | LockNonBlocking);

    /// <summary>
    /// LOCK_EX, waiting in the kernel until the holder unlocks or dies. The handle is referenced for the whole
    /// call, so a concurrent <see cref="SafeHandle.Dispose()"/> only closes the descriptor after flock returns
    /// (never while the call could use a number since reused), and that close releases the lock flock took.
    /// </summary>
    public static void Lock(SafeFileHandle file, string path) => Flock(file, path, LockExclusive);

    /// <summary>
    /// Makes the entries of <paramref name="directory"/> durable: after a rename, until the directory itself is
    /// synced, a power loss can bring back the old name's file.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        EnsureLinux();
        var fd = Open(directory, ReadOnly | Directory | CloseOnExec, 0);
        if (fd < 0)
        {
            throw Error("open", directory);
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Fsync(fd) != 0)
        {
            throw Error("fsync", directory);
        }
    }

    private static bool Flock(SafeFileHandle file, string path, int operation)
    {
        var referenced = false;
        file.DangerousAddRef(ref referenced);
        try
        {
            while (true)
            {
                if (Flock((int)file.DangerousGetHandle(), operation) == 0)
                {
                    return true;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == WouldBlock && (operation & LockNonBlocking) != 0)
                {
                    return false;
                }

                if (errno != Interrupted)
                {
                    throw Error("flock", path);
                }
            }
        }
        finally
        {
            if (referenced)
            {
                file.DangerousRelease();
            }
        }
    }

    private static void EnsureLinux()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The local cluster's file stores use Linux file locking (flock) and directory fsync.");
        }
    }

    private static IOException Error(string call, string path)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call}({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", errno);
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static extern int Flock(int fd, int operation);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);
}
