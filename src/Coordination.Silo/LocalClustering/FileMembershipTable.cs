using Orleans.Messaging;

namespace Coordination.Silo.LocalClustering;

/// <summary>
/// Orleans' membership table in a JSON file shared by the silos of one machine. Unlike development
/// clustering (whose table lives inside the primary silo), it survives any one silo, so killing any of
/// the local cluster's processes, the first included, leaves a working cluster. Row and table-version
/// compare-and-swap run under a cross-process file lock; clients read it as their gateway list.
/// </summary>
/// <param name="time">Times the waits for the file lock and between read retries; the system's when null.</param>
internal sealed class FileMembershipTable(string path, TimeProvider? time = null) : IMembershipTable, IGatewayListProvider
{
    private readonly string _path = Path.GetFullPath(path);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public TimeSpan MaxStaleness => TimeSpan.FromSeconds(1);

    public bool IsUpdatable => true;

    public Task InitializeMembershipTable(bool tryInitTableVersion) => Task.CompletedTask;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task DeleteMembershipTableEntries(string clusterId)
    {
        using (await LockAsync())
        {
            await WriteAsync(new TableFile());
        }
    }

    public async Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate)
    {
        using (await LockAsync())
        {
            var table = await ReadAsync();
            table.Rows.RemoveAll(r => r.Status != SiloStatus.Active && new DateTime(Math.Max(r.IAmAliveTime.Ticks, r.StartTime.Ticks), DateTimeKind.Utc) < beforeDate);
            await WriteAsync(table);
        }
    }

    public async Task<MembershipTableData> ReadRow(SiloAddress key)
    {
        var table = await ReadAsync();
        var row = table.Rows.Find(r => r.Silo == key.ToParsableString());
        return row is null ? new MembershipTableData(table.Version()) : new MembershipTableData(Tuple.Create(row.ToEntry(), row.ETag), table.Version());
    }

    public async Task<MembershipTableData> ReadAll()
    {
        var table = await ReadAsync();
        return new MembershipTableData([.. table.Rows.Select(r => Tuple.Create(r.ToEntry(), r.ETag))], table.Version());
    }

    public async Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion)
    {
        using (await LockAsync())
        {
            var table = await ReadAsync();
            if (table.Rows.Exists(r => r.Silo == entry.SiloAddress.ToParsableString()) || table.VersionETag != tableVersion.VersionEtag)
            {
                return false;
            }

            table.Rows.Add(Row.From(entry, table.NextETag()));
            table.Commit(tableVersion.Version);
            await WriteAsync(table);
            return true;
        }
    }

    public async Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion)
    {
        using (await LockAsync())
        {
            var table = await ReadAsync();
            var index = table.Rows.FindIndex(r => r.Silo == entry.SiloAddress.ToParsableString());
            if (index < 0 || table.Rows[index].ETag != etag || table.VersionETag != tableVersion.VersionEtag)
            {
                return false;
            }

            table.Rows[index] = Row.From(entry, table.NextETag());
            table.Commit(tableVersion.Version);
            await WriteAsync(table);
            return true;
        }
    }

    public async Task UpdateIAmAlive(MembershipEntry entry)
    {
        using (await LockAsync())
        {
            var table = await ReadAsync();
            var row = table.Rows.Find(r => r.Silo == entry.SiloAddress.ToParsableString());
            if (row is not null)
            {
                row.IAmAliveTime = entry.IAmAliveTime;
                row.ETag = table.NextETag();
                await WriteAsync(table);
            }
        }
    }

    public async Task<IList<Uri>> GetGateways()
    {
        var table = await ReadAsync();
        return [.. table.Rows
            .Where(r => r.Status == SiloStatus.Active && r.ProxyPort != 0)
            .Select(r =>
            {
                var silo = SiloAddress.FromParsableString(r.Silo);
                return SiloAddress.New(silo.Endpoint.Address, r.ProxyPort, silo.Generation).ToGatewayUri();
            })];
    }

    private Task<IDisposable> LockAsync() => CrossProcessFileLock.AcquireAsync(_path + ".lock", _time, CancellationToken.None);

    private async Task<TableFile> ReadAsync() =>
        await SharedJsonFile.ReadAsync<TableFile>(_path, FileClusterMetadataStore.Json, _time, CancellationToken.None) ?? new TableFile();

    private Task WriteAsync(TableFile table) => SharedJsonFile.WriteAsync(_path, table, FileClusterMetadataStore.Json, syncDirectory: null, CancellationToken.None);

    /// <summary>The file's contents: rows with their etags, the table version and its etag.</summary>
    internal sealed class TableFile
    {
        public int TableVersion { get; set; }

        public string VersionETag { get; set; } = "0";

        public long ETagCounter { get; set; }

        public List<Row> Rows { get; set; } = [];

        public TableVersion Version() => new(TableVersion, VersionETag);

        /// <summary>Etags are unique forever (never reused after a reset), so a stale compare-and-swap can never match.</summary>
        public string NextETag() => $"{++ETagCounter}-{Guid.NewGuid():N}";

        public void Commit(int version)
        {
            TableVersion = version;
            VersionETag = NextETag();
        }
    }

    internal sealed class Row
    {
        public string Silo { get; set; } = string.Empty;

        public SiloStatus Status { get; set; }

        public List<Suspicion> Suspicions { get; set; } = [];

        public int ProxyPort { get; set; }

        public string HostName { get; set; } = string.Empty;

        public string SiloName { get; set; } = string.Empty;

        public string? RoleName { get; set; }

        public int UpdateZone { get; set; }

        public int FaultZone { get; set; }

        public DateTime StartTime { get; set; }

        public DateTime IAmAliveTime { get; set; }

        public string ETag { get; set; } = string.Empty;

        public static Row From(MembershipEntry e, string etag) => new()
        {
            Silo = e.SiloAddress.ToParsableString(),
            Status = e.Status,
            Suspicions = e.SuspectTimes?.Select(s => new Suspicion { Silo = s.Item1.ToParsableString(), At = s.Item2 }).ToList() ?? [],
            ProxyPort = e.ProxyPort,
            HostName = e.HostName,
            SiloName = e.SiloName,
            RoleName = e.RoleName,
            UpdateZone = e.UpdateZone,
            FaultZone = e.FaultZone,
            StartTime = e.StartTime,
            IAmAliveTime = e.IAmAliveTime,
            ETag = etag,
        };

        public MembershipEntry ToEntry() => new()
        {
            SiloAddress = SiloAddress.FromParsableString(Silo),
            Status = Status,
            SuspectTimes = [.. Suspicions.Select(s => Tuple.Create(SiloAddress.FromParsableString(s.Silo), s.At))],
            ProxyPort = ProxyPort,
            HostName = HostName,
            SiloName = SiloName,
            RoleName = RoleName,
            UpdateZone = UpdateZone,
            FaultZone = FaultZone,
            StartTime = StartTime,
            IAmAliveTime = IAmAliveTime,
        };
    }

    internal sealed class Suspicion
    {
        public string Silo { get; set; } = string.Empty;

        public DateTime At { get; set; }
    }
}
