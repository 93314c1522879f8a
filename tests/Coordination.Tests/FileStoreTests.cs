using System.Net;
using Coordination.Replication.Configuration;
using Coordination.Silo.LocalClustering;

namespace Coordination.Tests;

/// <summary>The local cluster's file stores: compare-and-swap semantics, JSON round trips, concurrent writers, durable replaces.</summary>
public sealed class FileStoreTests : IDisposable
{
    private static readonly AuditEntry Audit = new(DateTimeOffset.UnixEpoch, "test", "create", "test", 1, []);
    private readonly string _dir = Directory.CreateTempSubdirectory("coord-filestore-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Metadata_round_trips_and_is_compare_and_swap_on_its_version()
    {
        var store = new FileClusterMetadataStore(Path.Combine(_dir, "metadata.json"));
        Assert.Null(await store.ReadAsync());
        var created = ClusterMetadata.Create(4, 3, Audit);
        Assert.True(await store.TryWriteAsync(0, created));
        Assert.False(await store.TryWriteAsync(0, created));
        var planned = ConfigurationPlanner.Plan(created, new SiloPopulation([new("a:1@1"), new("b:1@1"), new("c:1@1")], new HashSet<ReplicaId>(), new HashSet<ReplicaId>()))!;
        var drained = ConfigurationPlanner.WithDraining(planned, new("a:1@1"));
        Assert.True(await store.TryWriteAsync(created.Version, planned));
        Assert.True(await store.TryWriteAsync(planned.Version, drained));
        var read = (await store.ReadAsync())!;
        Assert.Equal(drained.Version, read.Version);
        Assert.Equal(drained.Partitions.Select(p => p.ToString()), read.Partitions.Select(p => p.ToString()));
        Assert.True(read.IsDraining(new("a:1@1")));
        Assert.Equal(Audit.Operator, read.Audit[0].Operator);
    }

    [Fact]
    public async Task Concurrent_writers_never_lose_an_update()
    {
        var path = Path.Combine(_dir, "metadata.json");
        await new FileClusterMetadataStore(path).TryWriteAsync(0, ClusterMetadata.Create(1, 3, Audit));
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var store = new FileClusterMetadataStore(path);
            var done = 0;
            while (done < 25)
            {
                var current = (await store.ReadAsync())!;
                if (await store.TryWriteAsync(current.Version, current with { Version = current.Version + 1, ClusterEpoch = current.ClusterEpoch + 1 }))
                {
                    done++;
                }
            }
        }));
        await Task.WhenAll(writers);
        var final = (await new FileClusterMetadataStore(path).ReadAsync())!;
        Assert.Equal(101, final.Version);
        Assert.Equal(101, final.ClusterEpoch);
    }

    [Fact]
    public async Task Membership_rows_and_table_version_are_compare_and_swap()
    {
        var table = new FileMembershipTable(Path.Combine(_dir, "membership.json"));
        var silo = SiloAddress.New(IPAddress.Loopback, 11111, 1);
        var empty = await table.ReadAll();
        var entry = new MembershipEntry { SiloAddress = silo, Status = SiloStatus.Joining, SiloName = "s0", HostName = "h", ProxyPort = 30000, StartTime = DateTime.UtcNow, IAmAliveTime = DateTime.UtcNow };
        Assert.True(await table.InsertRow(entry, empty.Version.Next()));
        Assert.False(await table.InsertRow(entry, empty.Version.Next()));
        var row = await table.ReadRow(silo);
        var (stored, etag) = row.Members.Single();
        Assert.Equal(SiloStatus.Joining, stored.Status);

        stored.Status = SiloStatus.Active;
        Assert.False(await table.UpdateRow(stored, "stale", row.Version.Next()));
        Assert.True(await table.UpdateRow(stored, etag, row.Version.Next()));
        Assert.False(await table.UpdateRow(stored, etag, row.Version.Next()));

        await table.UpdateIAmAlive(stored);
        var all = await table.ReadAll();
        Assert.Equal(SiloStatus.Active, all.Members.Single().Item1.Status);
        Assert.NotEqual(etag, all.Members.Single().Item2);
        Assert.Equal(2, all.Version.Version);
        Assert.Single(await table.GetGateways());
    }

    [Fact]
    public async Task A_metadata_write_syncs_the_directory_after_its_rename()
    {
        var path = Path.Combine(_dir, "metadata.json");
        var synced = new List<(string Directory, long Version)>();
        var store = new FileClusterMetadataStore(path, syncDirectory: directory => synced.Add((directory, System.Text.Json.JsonSerializer.Deserialize<ClusterMetadata>(File.ReadAllText(path))!.Version)));
        var created = ClusterMetadata.Create(1, 3, Audit);

        Assert.True(await store.TryWriteAsync(0, created));
        Assert.False(await store.TryWriteAsync(0, created with { Version = created.Version + 1 }));

        // One sync, of the file's directory, once the new file is in place under its name; none for a lost compare-and-swap.
        Assert.Equal([(_dir, created.Version)], synced);
        Assert.Equal([path, path + ".lock"], Directory.GetFiles(_dir).Order());
    }

    [Fact]
    public void The_directory_sync_opens_the_directory_itself()
    {
        NativeFiles.SyncDirectory(_dir);
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, string.Empty);
        Assert.Contains("errno", Assert.Throws<IOException>(() => NativeFiles.SyncDirectory(file)).Message, StringComparison.Ordinal);
        Assert.Throws<IOException>(() => NativeFiles.SyncDirectory(Path.Combine(_dir, "missing")));
    }
}
