using System.Text.Json;
using Coordination.Replication.Configuration;

namespace Coordination.Silo.LocalClustering;

/// <summary>
/// Cluster metadata in a JSON file shared by the silos of one machine: reads see whole files (writes are
/// atomic renames) and compare-and-swap runs under a cross-process file lock, so it is linearizable on
/// that machine. It survives every silo, which is what keeps the cluster epoch (and so fencing order)
/// growing across full restarts of the local cluster.
/// </summary>
/// <param name="time">Times the waits for the file lock and between read retries; the system's when null.</param>
/// <param name="syncDirectory">Makes a replace durable; <see cref="NativeFiles.SyncDirectory"/> when null (tests pass a stand-in).</param>
internal sealed class FileClusterMetadataStore(string path, TimeProvider? time = null, Action<string>? syncDirectory = null) : IClusterMetadataStore
{
    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Action<string> _syncDirectory = syncDirectory ?? NativeFiles.SyncDirectory;

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public Task<ClusterMetadata?> ReadAsync(CancellationToken cancellationToken = default) =>
        SharedJsonFile.ReadAsync<ClusterMetadata>(Path, Json, _time, cancellationToken);

    public async Task<bool> TryWriteAsync(long expectedVersion, ClusterMetadata next, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.Version <= expectedVersion)
        {
            throw new ArgumentException($"A write must raise the version (expected {expectedVersion}, new {next.Version}).", nameof(next));
        }

        using (await CrossProcessFileLock.AcquireAsync(Path + ".lock", _time, cancellationToken))
        {
            var current = await ReadAsync(cancellationToken);
            if ((current?.Version ?? 0) != expectedVersion)
            {
                return false;
            }

            await SharedJsonFile.WriteAsync(Path, next, Json, _syncDirectory, cancellationToken);
            return true;
        }
    }
}
