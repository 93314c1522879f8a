namespace Coordination.Silo.LocalClustering;

/// <summary>
/// An exclusive lock shared by the processes of one machine: an open of a lock file with FileShare.None
/// (an advisory flock on Linux). Held only for the few milliseconds of a read-modify-write.
/// </summary>
internal static class CrossProcessFileLock
{
    public static async Task<IDisposable> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        var delay = 1;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(delay, cancellationToken);
                delay = Math.Min(delay * 2, 20);
            }
        }
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="contents"/> atomically (write a temporary file, then rename over).</summary>
    public static async Task WriteAtomicallyAsync(string path, string contents, CancellationToken cancellationToken)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        await File.WriteAllTextAsync(temporary, contents, cancellationToken);
        File.Move(temporary, path, overwrite: true);
    }
}
