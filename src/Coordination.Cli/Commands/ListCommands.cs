using System.CommandLine;
using System.Globalization;

namespace Coordination.Cli.Commands;

/// <summary><c>coord locks</c>, <c>coord elections</c>, <c>coord counters</c>, <c>coord latches</c> and <c>coord sessions</c>: one page of what the cluster holds (the admin listing), each entry read through a majority.</summary>
internal static class ListCommands
{
    public static Command Locks(ConnectionOptions connection)
    {
        var (after, limit) = PageOptions();
        var prefix = PrefixOption("locks");
        var semaphore = new Option<bool>("--semaphore") { Description = "List semaphores instead: one row per permit held (or one for a name only waited for)." };
        var readerWriter = new Option<bool>("--reader-writer") { Description = "List reader-writer locks instead: one row per reader or writer (or one for a name only waited for)." };
        var locks = new Command("locks", "List locks (or, with --semaphore or --reader-writer, semaphores or reader-writer locks) that are held or waited for, by name.") { prefix, after, limit, semaphore, readerWriter };
        locks.Validators.Add(r =>
        {
            if (r.GetValue(semaphore) && r.GetValue(readerWriter))
            {
                r.AddError("Give --semaphore or --reader-writer, not both.");
            }
        });
        locks.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            if (result.GetValue(semaphore) || result.GetValue(readerWriter))
            {
                return await SharedLocksAsync(cluster, output, result.GetValue(semaphore), result.GetValue(prefix), result.GetValue(after), result.GetValue(limit));
            }

            var page = await cluster.Grains.GetGrain<IClusterListingGrain>(0).FindLocks(result.GetValue(prefix) ?? string.Empty, result.GetValue(after), result.GetValue(limit));
            output.Write(page, () =>
            {
                var table = Output.Table("NAME", "HOLDER", "TOKEN", "OWNER", "WAITERS");
                foreach (var l in page.Locks)
                {
                    Output.Row(table, l.Name, l.Holder?.SessionTag ?? "-", l.Holder is { } h ? h.FencingToken.ToString(CultureInfo.InvariantCulture) : "-", l.Holder?.Owner ?? "-", l.Waiters.Length.ToString(CultureInfo.InvariantCulture));
                }

                return table;
            });
            NoteNext(output, Command("locks", result.GetValue(prefix)), page.Next);
            return ExitCodes.Ok;
        }, cancellationToken));
        return locks;
    }

    /// <summary>A page of semaphores or reader-writer locks: a row per holder, so each permit or reader shows its session, token and owner.</summary>
    private static async Task<int> SharedLocksAsync(ClusterConnection cluster, Output output, bool semaphores, string? prefix, string? after, int limit)
    {
        var listing = cluster.Grains.GetGrain<IClusterListingGrain>(0);
        var page = semaphores
            ? await listing.FindSemaphores(prefix ?? string.Empty, after, limit)
            : await listing.FindReaderWriterLocks(prefix ?? string.Empty, after, limit);
        output.Write(page, () =>
        {
            var table = semaphores
                ? Output.Table("NAME", "PERMITS", "HOLDER", "TOKEN", "OWNER", "WAITERS")
                : Output.Table("NAME", "HOLDER", "ACCESS", "TOKEN", "OWNER", "WAITERS");
            foreach (var l in page.Locks)
            {
                var waiters = l.Waiters.Length.ToString(CultureInfo.InvariantCulture);
                var permits = $"{l.Holders.Length}/{l.MaxCount}";
                foreach (var h in l.Holders.IsEmpty ? [null] : l.Holders.Cast<SharedHolder?>())
                {
                    var token = h is null ? "-" : h.FencingToken.ToString(CultureInfo.InvariantCulture);
                    if (semaphores)
                    {
                        Output.Row(table, l.Name, permits, h?.SessionTag ?? "-", token, h?.Owner ?? "-", waiters);
                    }
                    else
                    {
                        Output.Row(table, l.Name, h?.SessionTag ?? "-", h is null ? "-" : AccessName(h.Access, l.UpgradePending), token, h?.Owner ?? "-", waiters);
                    }
                }
            }

            return table;
        });
        NoteNext(output, Command(semaphores ? "locks --semaphore" : "locks --reader-writer", prefix), page.Next);
        return ExitCodes.Ok;
    }

    private static string AccessName(ReaderWriterAccess access, bool upgradePending) => access switch
    {
        ReaderWriterAccess.Write => "write",
        ReaderWriterAccess.UpgradeableRead => upgradePending ? "upgradeable (upgrading)" : "upgradeable",
        _ => "read",
    };

    public static Command Elections(ConnectionOptions connection) =>
        Search(connection, "elections", "List elections that have a leader or candidates, by name.", (listing, prefix, after, limit) => listing.FindElections(prefix, after, limit), page => page.Next, page =>
        {
            var table = Output.Table("NAME", "LEADER", "TERM", "OWNER", "VALUE", "CANDIDATES");
            foreach (var e in page.Elections)
            {
                var leader = e.Leader;
                Output.Row(table, e.Election, leader?.SessionTag ?? "-", leader is { } l ? Number(l.Term) : "-", leader?.Owner ?? "-", leader?.Value ?? "-", Number(e.Candidates.Length));
            }

            return table;
        });

    public static Command Counters(ConnectionOptions connection) =>
        Search(connection, "counters", "List counters that are not at zero, by name, with their value and revision.", (listing, prefix, after, limit) => listing.FindCounters(prefix, after, limit), page => page.Next, page =>
        {
            var table = Output.Table("NAME", "VALUE", "REVISION");
            foreach (var c in page.Counters)
            {
                Output.Row(table, c.Name, Number(c.Value), Number(c.Revision));
            }

            return table;
        });

    public static Command Latches(ConnectionOptions connection) =>
        Search(connection, "latches", "List the latches the cluster keeps (counting down, or released and not yet retired), by name.", (listing, prefix, after, limit) => listing.FindLatches(prefix, after, limit), page => page.Next, page =>
        {
            var table = Output.Table("NAME", "LEFT", "OF", "STATE");
            foreach (var l in page.Latches)
            {
                Output.Row(table, l.Name, Number(l.Count), Number(l.InitialCount), l.IsReleased ? "released" : "counting");
            }

            return table;
        });

    /// <summary>A listing searched by name prefix, a page at a time: <c>coord NAME [--prefix P] [--after CURSOR] [--limit N]</c>.</summary>
    private static Command Search<TPage>(ConnectionOptions connection, string name, string description, Func<IClusterListingGrain, string, string?, int, Task<TPage>> fetch, Func<TPage, string?> next, Func<TPage, Spectre.Console.Table> table)
        where TPage : notnull
    {
        var (after, limit) = PageOptions();
        var prefix = PrefixOption(name);
        var command = new Command(name, description) { prefix, after, limit };
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var page = await fetch(cluster.Grains.GetGrain<IClusterListingGrain>(0), result.GetValue(prefix) ?? string.Empty, result.GetValue(after), result.GetValue(limit));
            output.Write(page, () => table(page));
            NoteNext(output, Command(name, result.GetValue(prefix)), next(page));
            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    public static Command Sessions(ConnectionOptions connection)
    {
        var (after, limit) = PageOptions();
        var sessions = new Command("sessions", "List the sessions the cluster keeps (by tag; never their secret ids).") { after, limit };
        sessions.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var page = await cluster.Grains.GetGrain<IClusterListingGrain>(0).ListSessions(result.GetValue(after), result.GetValue(limit));
            output.Write(page, () =>
            {
                var table = Output.Table("TAG", "STATUS", "TTL", "HOLDINGS", "OWNER");
                foreach (var s in page.Sessions)
                {
                    Output.Row(table, s.Tag, s.Revoked is null ? s.Status.ToString() : $"{s.Status} (revoked: {s.Revoked})", $"{s.Ttl.TotalSeconds:0.###} s", s.Holdings.ToString(CultureInfo.InvariantCulture), s.Owner ?? string.Empty);
                }

                return table;
            });
            NoteNext(output, "sessions", page.Next);
            return ExitCodes.Ok;
        }, cancellationToken));
        return sessions;
    }

    internal static (Option<string?> After, Option<int> Limit) PageOptions() =>
        (new Option<string?>("--after") { Description = "Start after this cursor (the 'next' of the previous page)." },
         new Option<int>("--limit") { Description = "At most this many entries examined (1 to 1000). Default 100.", DefaultValueFactory = _ => 100 });

    /// <summary>Tells the person at the terminal how to ask for the next page (<paramref name="command"/>: the command and its arguments but --after).</summary>
    internal static void NoteNext(Output output, string command, string? next)
    {
        if (next is not null && !output.Json)
        {
            Output.Note($"more: coord {command} --after {Quote(next)}");
        }
    }

    private static Option<string?> PrefixOption(string what) =>
        new("--prefix") { Description = $"Only {what} whose names start with this (ordinal)." };

    private static string Command(string command, string? prefix) => prefix is null ? command : $"{command} --prefix {Quote(prefix)}";

    /// <summary><paramref name="text"/> as one word for a POSIX shell (single quotes; a quote inside closes, escapes and reopens them).</summary>
    internal static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
