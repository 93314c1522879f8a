using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Admin;

/// <summary>Operator actions on replica configurations. Re-initialisation is explicit, refuses healthy partitions and is audited.</summary>
internal sealed partial class ClusterAdminGrain(
    IClusterMetadataStore store,
    MetadataDirectory directory,
    SiloLiveness liveness,
    IReplicaTransport transport,
    TimeProvider time,
    ILogger<ClusterAdminGrain> logger) : Grain, IClusterAdminGrain
{
    public async Task<ClusterView> GetView()
    {
        var metadata = await store.ReadAsync() ?? throw new CoordinationException("The cluster metadata has not been created yet.");
        return ToView(metadata);
    }

    public async Task<ClusterView> Reinitialize(int[] partitions, string reason, string operatorName)
    {
        RequireAuditable("a re-initialisation", reason, operatorName);

        for (var attempt = 0; ; attempt++)
        {
            var current = await store.ReadAsync() ?? throw new CoordinationException("The cluster metadata has not been created yet.");
            var audit = new AuditEntry(time.GetUtcNow(), operatorName, "reinitialize", reason, 0, []);
            var caughtUp = await CaughtUpRecoveringMembersAsync(current);
            var next = ConfigurationPlanner.Reinitialize(current, partitions ?? [], liveness.Population(current), audit, (partition, member) => caughtUp.Contains((partition, member)));
            if (await store.TryWriteAsync(current.Version, next))
            {
                LogReinitialized(logger, operatorName, string.Join(",", next.Audit[^1].Partitions), next.ClusterEpoch, reason);
                directory.Publish(next);
                await FenceOldMembersAsync(current, next);
                return ToView(next);
            }

            if (attempt > 10)
            {
                throw new CoordinationException("The cluster metadata kept changing during re-initialisation; try again.");
            }
        }
    }

    public Task<RevokeResult> RevokeLock(string name, string reason, string operatorName) =>
        RevokeAsync("revoke-lock", name, reason, operatorName, () => GrainFactory.Reference<ILockGrain>(name).Revoke(reason), Describe);

    public Task<RevokeResult> RevokeLeadership(string election, string reason, string operatorName) =>
        RevokeAsync("revoke-leadership", election, reason, operatorName, () => GrainFactory.Reference<IElectionGrain>(election).Revoke(reason), Describe);

    public Task<SharedRevokeResult> RevokeSemaphore(string name, string reason, string operatorName) =>
        RevokeAsync("revoke-semaphore", name, reason, operatorName, () => GrainFactory.Reference<ISemaphoreGrain>(name).Revoke(reason), Describe);

    public Task<SharedRevokeResult> RevokeReaderWriterLock(string name, string reason, string operatorName) =>
        RevokeAsync("revoke-reader-writer", name, reason, operatorName, () => GrainFactory.Reference<IReaderWriterLockGrain>(name).Revoke(reason), Describe);

    public Task<SessionRevokeResult> RevokeSession(string sessionTag, string reason, string operatorName)
    {
        var tag = SessionTagOf(sessionTag);
        return RevokeAsync("revoke-session", tag, reason, operatorName, () => GrainFactory.GetGrain<IClusterListingGrainInternal>(0).RevokeSessionTagged(tag, reason), Describe);
    }

    /// <summary>A session's public tag as operators copy it (12 hex digits, either case), lowercased; anything else is refused before anything is looked up.</summary>
    private static string SessionTagOf(string sessionTag) =>
        sessionTag is { Length: 12 } && sessionTag.All(char.IsAsciiHexDigit)
            ? sessionTag.ToLowerInvariant()
            : throw new CoordinationArgumentException(nameof(sessionTag), "a session tag is the 12 hex digits that coord sessions and holder queries show");

    private static string Describe(SessionRevokeResult result) =>
        result.AlreadyEnded
            ? $"nothing changed: it is {result.Session.Status}{(result.Session.Revoked is null ? string.Empty : ", revoked before")}"
            : $"owner {result.Session.Owner ?? "unnamed"}; its lease ends within {(result.Session.Remaining ?? result.Session.Ttl).TotalSeconds:0.#} s";

    private static string Describe(RevokeResult result) =>
        result.Revoked is { } holder
            ? $"session {holder.SessionTag}, token {holder.FencingToken} -> {result.LastFencingToken}"
            : $"nobody held it; token {result.LastFencingToken}";

    private static string Describe(SharedRevokeResult result) =>
        result.Revoked.IsDefaultOrEmpty
            ? $"nobody held it; token {result.LastFencingToken}"
            : $"{string.Join(", ", result.Revoked.Select(h => $"session {h.SessionTag} token {h.FencingToken}"))}; token {result.LastFencingToken}";

    /// <summary>
    /// Revokes first, then records it: the trail lists what was done, never an attempt that changed nothing. A revoke
    /// whose record cannot be written is still logged at warning level with its operator and reason.
    /// </summary>
    private async Task<T> RevokeAsync<T>(string action, string name, string reason, string operatorName, Func<Task<T>> revoke, Func<T, string> describe)
    {
        Names.Validate(name);
        RequireAuditable("a revoke", reason, operatorName);
        RequestRules.ValidateRevokeReason(reason);
        var result = await revoke();
        var what = $"{action} {name} ({describe(result)})";
        LogRevoked(logger, operatorName, what, reason);
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var current = await store.ReadAsync() ?? throw new CoordinationException("The cluster metadata has not been created yet.");
            var next = current.WithAudit(new AuditEntry(time.GetUtcNow(), operatorName, what, reason, current.ClusterEpoch, [])) with { Version = current.Version + 1 };
            if (await store.TryWriteAsync(current.Version, next))
            {
                directory.Publish(next);
                return result;
            }
        }

        throw new CoordinationException($"{what} was done, but the cluster metadata kept changing and the audit trail could not record it; the silo log has it.");
    }

    private static void RequireAuditable(string act, string reason, string operatorName)
    {
        if (string.IsNullOrWhiteSpace(reason) || string.IsNullOrWhiteSpace(operatorName))
        {
            throw new CoordinationArgumentException(string.IsNullOrWhiteSpace(reason) ? "reason" : "operatorName", $"{act} must name its operator and its reason for the audit trail");
        }

        if (Names.Check(operatorName) is { } problem)
        {
            throw new CoordinationArgumentException(nameof(operatorName), problem.Replace("a name", "an operator name", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// The members the metadata lists as recovering that have in fact finished (their report has not landed):
    /// each live one is asked whether it is active at its partition's epoch. A partition whose majority holds
    /// its state is never offered for re-initialisation, even while the metadata still says otherwise.
    /// </summary>
    private async Task<HashSet<(int Partition, ReplicaId Member)>> CaughtUpRecoveringMembersAsync(ClusterMetadata metadata)
    {
        var asked = metadata.Partitions
            .SelectMany(p => p.Recovering.IsDefaultOrEmpty ? [] : p.Recovering.Where(m => !liveness.IsDead(m)).Select(m => (Config: p, Member: m)))
            .Select(async x =>
            {
                try
                {
                    var reply = await transport.SendAsync(x.Member, new ReplicaRequest(x.Config.Partition, x.Config.Epoch, string.Empty, ReplicaOperation.Status, Ballot.Zero, null, Ballot.Zero), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2));
                    return reply.Status == ReplicaStatus.Ok ? (x.Config.Partition, x.Member) : ((int, ReplicaId)?)null;
                }
                catch (Exception)
                {
                    return null;
                }
            });
        return [.. (await Task.WhenAll(asked)).OfType<(int, ReplicaId)>()];
    }

    /// <summary>
    /// Tells the old members of re-initialised partitions, where any still runs, that they are no longer
    /// members, so a silo wrongly believed dead stops serving the old lineage. Best effort: a silo that
    /// cannot be reached is exactly the one an operator has declared dead.
    /// </summary>
    private async Task FenceOldMembersAsync(ClusterMetadata before, ClusterMetadata after)
    {
        var hints = new List<Task>();
        foreach (var p in after.Partitions.Where(p => p.Epoch != before.Partitions[p.Partition].Epoch))
        {
            foreach (var old in before.Partitions[p.Partition].Members.Where(m => !p.Contains(m.Id)))
            {
                hints.Add(transport.AdoptAsync(old.Id, p, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2)));
            }
        }

        try
        {
            await Task.WhenAll(hints);
        }
        catch (Exception)
        {
            // Unreachable old members are the dead ones.
        }
    }

    internal static ClusterView ToView(ClusterMetadata m) => new(
        m.ClusterEpoch,
        m.ReplicationFactor,
        [.. m.Partitions.Select(p => new PartitionView(p.Partition, p.Epoch, [.. p.Members.Select(x => x.Id.Value)], p.TokenEpoch, p.Recovering.IsDefault ? [] : [.. p.Recovering.Select(r => r.Value)]))],
        m.Audit);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "AUDIT: {Operator} re-initialised partitions [{Partitions}] (cluster epoch now {Epoch}): {Reason}")]
    private static partial void LogReinitialized(ILogger logger, string @operator, string partitions, long epoch, string reason);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Warning, Message = "AUDIT: {Operator}: {What}: {Reason}")]
    private static partial void LogRevoked(ILogger logger, string @operator, string what, string reason);
}
