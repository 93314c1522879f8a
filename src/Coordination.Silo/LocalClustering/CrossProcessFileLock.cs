namespace Coordination.Silo.LocalClustering;

/// <summary>
/// An exclusive lock shared by the processes of one machine: an open of a lock file with FileShare.None
/// (an advisory flock on Linux). Held only for the few milliseconds of a read-modify-write.
/// </summary>
internal static class CrossProcessFileLock
{
    public static async Task<IDisposable> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(20));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await backoff.DelayAsync(TimeProvider.System, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="contents"/> atomically: write a temporary file,
    /// flush it to disk, then rename it over (readers see the old file or the new one, never a torn one).
    /// </summary>
    public static async Task WriteAtomicallyAsync(string path, string contents, CancellationToken cancellationToken)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        await using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(contents), cancellationToken);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
