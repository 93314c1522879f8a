using System.Text.Json;

namespace Coordination.Silo.LocalClustering;

/// <summary>
/// A JSON file shared by the processes of one machine: read whole, replaced atomically and, where asked,
/// durably. A replace writes a temporary file, flushes it to disk and renames it over the old one (readers
/// see the old file or the new one, never a torn one); a durable one then syncs the directory. The rename
/// lives in the directory, not in either file: without that sync a power loss can bring the old file back,
/// and with the metadata file an older cluster epoch, so fencing tokens could go backwards. Compare-and-swap
/// needs the <see cref="CrossProcessFileLock"/> around the read and the replace.
/// </summary>
internal static class SharedJsonFile
{
    /// <summary>The file's value, or null when there is no file yet.</summary>
    public static async Task<T?> ReadAsync<T>(string path, JsonSerializerOptions options, TimeProvider time, CancellationToken cancellationToken)
        where T : class
    {
        if (!File.Exists(path))
        {
            return null;
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                return await JsonSerializer.DeserializeAsync<T>(stream, options, cancellationToken);
            }
            catch (IOException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(5), time, cancellationToken);
            }
        }
    }

    /// <param name="syncDirectory">
    /// Makes the rename durable (<see cref="NativeFiles.SyncDirectory"/>, or a test's stand-in); the metadata
    /// needs it, as it holds the cluster epoch. Null skips that wait where nothing must survive a power loss
    /// (the membership table: each local cluster starts with a fresh one).
    /// </param>
    public static async Task WriteAsync<T>(string path, T value, JsonSerializerOptions options, Action<string>? syncDirectory, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        var temporary = $"{full}.{Environment.ProcessId}.tmp";
        await using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await JsonSerializer.SerializeAsync(file, value, options, cancellationToken);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, full, overwrite: true);
        syncDirectory?.Invoke(Path.GetDirectoryName(full)!);
    }
}
