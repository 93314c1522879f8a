using System.Text.Json;
using Coordination.Replication.Configuration;

namespace Coordination.Silo.LocalClustering;

/// <summary>
/// Cluster metadata in a JSON file shared by the silos of one machine: reads see whole files (writes are
/// atomic renames) and compare-and-swap runs under a cross-process file lock, so it is linearizable on
/// that machine. It survives every silo, which is what keeps the cluster epoch (and so fencing order)
/// growing across full restarts of the local cluster.
/// </summary>
internal sealed class FileClusterMetadataStore(string path) : IClusterMetadataStore
{
    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public async Task<ClusterMetadata?> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                return await JsonSerializer.DeserializeAsync<ClusterMetadata>(stream, Json, cancellationToken);
            }
            catch (IOException) when (attempt < 5)
            {
                await Task.Delay(5, cancellationToken);
            }
        }
    }

    public async Task<bool> TryWriteAsync(long expectedVersion, ClusterMetadata next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.Version <= expectedVersion)
        {
            throw new ArgumentException($"A write must raise the version (expected {expectedVersion}, new {next.Version}).", nameof(next));
        }

        using (await CrossProcessFileLock.AcquireAsync(Path + ".lock", cancellationToken))
        {
            var current = await ReadAsync(cancellationToken);
            if ((current?.Version ?? 0) != expectedVersion)
            {
                return false;
            }

            await CrossProcessFileLock.WriteAtomicallyAsync(Path, JsonSerializer.Serialize(next, Json), cancellationToken);
            return true;
        }
    }
}
