using System.CommandLine;
using System.Globalization;

namespace Coordination.Cli.Commands;

/// <summary><c>coord members</c> (Orleans' membership: every silo and its status) and <c>coord status</c> (epoch, replication, partitions, the last audited act).</summary>
internal static class ClusterCommands
{
    /// <summary>One silo as <c>coord members</c> shows it.</summary>
    private sealed record Member(string Silo, string Name, string Host, string Status, DateTime StartedUtc);

    public static Command Members(ConnectionOptions connection)
    {
        var members = new Command("members", "List the cluster's silos and their status.");
        members.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var list = await MembersAsync(cluster);
            output.Write(new { members = list }, () =>
            {
                var table = Output.Table("SILO", "NAME", "HOST", "STATUS", "STARTED (UTC)");
                foreach (var m in list)
                {
                    Output.Row(table, m.Silo, m.Name, m.Host, m.Status, m.StartedUtc.ToString("u", CultureInfo.InvariantCulture));
                }

                return table;
            });
            return ExitCodes.Ok;
        }, cancellationToken));
        return members;
    }

    public static Command Status(ConnectionOptions connection)
    {
        var status = new Command("status", "Show the cluster's epoch, replication, partitions and last audited act.");
        status.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var view = await cluster.Grains.GetGrain<IClusterAdminGrain>(0).GetView();
            var members = await MembersAsync(cluster);
            var summary = new
            {
                clusterEpoch = view.ClusterEpoch,
                replicationFactor = view.ReplicationFactor,
                partitions = view.Partitions.Length,
                recovering = view.Partitions.Count(p => !p.Recovering.IsDefaultOrEmpty),
                underReplicated = view.Partitions.Count(p => p.Members.Length < view.ReplicationFactor),
                activeSilos = members.Count(m => m.Status == "Active"),
                silos = members.Length,
                lastAudit = view.Audit.IsDefaultOrEmpty ? null : view.Audit[^1],
            };
            output.Write(summary, () => string.Join(
                Environment.NewLine,
                $"cluster epoch     {summary.clusterEpoch}",
                $"silos             {summary.activeSilos} active of {summary.silos} known",
                $"partitions        {summary.partitions} × {summary.replicationFactor} replicas; {summary.recovering} recovering, {summary.underReplicated} under-replicated",
                $"last audited act  {(summary.lastAudit is { } a ? $"{a.At:u} {a.Action} by {a.Operator}: {a.Reason}" : "none")}"));
            return ExitCodes.Ok;
        }, cancellationToken));
        return status;
    }

    public static Command Revoke(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The lock (or, with --election, election; --semaphore, semaphore; --reader-writer, reader-writer lock; --session, the tag of a session) to take away from its holders." };
        var election = new Option<bool>("--election") { Description = "NAME is an election: take leadership away." };
        var semaphore = new Option<bool>("--semaphore") { Description = "NAME is a semaphore: take every permit away." };
        var readerWriter = new Option<bool>("--reader-writer") { Description = "NAME is a reader-writer lock: take it from every reader and writer." };
        var session = new Option<bool>("--session") { Description = "NAME is a session's tag (coord sessions): refuse its keepalives, so everything it holds is released when its lease runs out." };
        var reason = new Option<string?>("--reason") { Description = "Why, for the holder and the logs. Default: who ran coord revoke, and where." };
        var operatorName = new Option<string?>("--operator") { Description = "Who revokes, for the audit trail. Default: user@machine (coord)." };
        var revoke = new Command("revoke", "Operator action: take a lock (or leadership, permits, a reader-writer lock, a session) away from its holders; the token or term is bumped, the holders told, and the act recorded in the audit trail.") { name, election, semaphore, readerWriter, session, reason, operatorName };
        revoke.Validators.Add(r =>
        {
            if (new[] { election, semaphore, readerWriter, session }.Count(o => r.GetValue(o)) > 1)
            {
                r.AddError("Give at most one of --election, --semaphore, --reader-writer and --session.");
            }
        });
        revoke.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var target = result.GetValue(name)!;
            var why = result.GetValue(reason) ?? $"coord revoke by {Environment.UserName} on {Environment.MachineName}";

            // Through the admin grain, so the audit trail records who revoked what and why, as the page's revoke does.
            var who = result.GetValue(operatorName) ?? $"{Environment.UserName}@{Environment.MachineName} (coord)";
            var admin = cluster.Grains.GetGrain<IClusterAdminGrain>(0);
            if (result.GetValue(session))
            {
                var ended = await admin.RevokeSession(target, why, who).WaitAsync(cancellationToken);
                var s = ended.Session;
                output.Write(ended, () => ended.AlreadyEnded
                    ? $"session {s.Tag}: nothing changed, it is {s.Status}{(s.Revoked is null ? string.Empty : $" and was revoked before ({s.Revoked})")}"
                    : $"session {s.Tag} ({s.Owner ?? "no owner named"}): revoked; its client hears at its next keepalive, and what it holds is released when that client closes it or its lease runs out (within {(s.Remaining ?? s.Ttl).TotalSeconds:0.#} s)");
                return ExitCodes.Ok;
            }

            if (result.GetValue(semaphore) || result.GetValue(readerWriter))
            {
                var shared = result.GetValue(semaphore)
                    ? await admin.RevokeSemaphore(target, why, who).WaitAsync(cancellationToken)
                    : await admin.RevokeReaderWriterLock(target, why, who).WaitAsync(cancellationToken);
                output.Write(new { name = target, revoked = shared.Revoked, lastFencingToken = shared.LastFencingToken }, () => shared.Revoked.IsEmpty
                    ? $"{target}: nobody held it; the token is {shared.LastFencingToken}"
                    : $"{target}: revoked from {string.Join(", ", shared.Revoked.Select(h => $"session {h.SessionTag} (token {h.FencingToken})"))}; the token is now {shared.LastFencingToken}");
                return ExitCodes.Ok;
            }

            var revoked = result.GetValue(election)
                ? await admin.RevokeLeadership(target, why, who).WaitAsync(cancellationToken)
                : await admin.RevokeLock(target, why, who).WaitAsync(cancellationToken);
            output.Write(new { name = target, revoked = revoked.Revoked, lastFencingToken = revoked.LastFencingToken }, () => revoked.Revoked is { } holder
                ? $"{target}: revoked from session {holder.SessionTag} (token {holder.FencingToken}); the token is now {revoked.LastFencingToken}"
                : $"{target}: nobody held it; the token is now {revoked.LastFencingToken}");
            return ExitCodes.Ok;
        }, cancellationToken));
        return revoke;
    }

    private static async Task<Member[]> MembersAsync(ClusterConnection cluster)
    {
        var hosts = await cluster.Grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: false);
        return [.. hosts.OrderBy(h => h.SiloName, StringComparer.Ordinal).Select(h => new Member(h.SiloAddress.ToParsableString(), h.SiloName, h.HostName, h.Status.ToString(), h.StartTime))];
    }
}
