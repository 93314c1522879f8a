using System.CommandLine;
using System.Globalization;
using Coordination.Client;

namespace Coordination.Cli.Commands;

/// <summary>
/// <c>coord get</c>, <c>put</c>, <c>del</c> and <c>watch</c> (etcdctl's): named values with revisions, read and
/// written through a majority. <c>get --prefix</c> lists a page of the values under a prefix; <c>--if-revision</c>
/// makes a put or delete a compare-and-set (0: only if the value does not exist).
/// </summary>
internal static class ValueCommands
{
    public static Command Get(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The value's name (with --prefix: the prefix, which may be empty)." };
        var prefix = new Option<bool>("--prefix") { Description = "List the values whose names start with NAME, a page at a time." };
        var (after, limit) = ListCommands.PageOptions();
        var get = new Command("get", "Print a value (exit 1 when it does not exist), or with --prefix a page of the values under a prefix.") { name, prefix, after, limit };
        get.Validators.Add(r =>
        {
            if (!r.GetValue(prefix) && (r.GetResult(after) is { Implicit: false } || r.GetResult(limit) is { Implicit: false }))
            {
                r.AddError("--after and --limit page through --prefix listings only.");
            }
        });
        get.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var target = result.GetValue(name)!;
            if (result.GetValue(prefix))
            {
                var page = await cluster.Grains.GetGrain<IClusterListingGrain>(0).FindValues(target, result.GetValue(after), result.GetValue(limit)).WaitAsync(cancellationToken);
                output.Write(new { values = page.Values.Select(Json), next = page.Next }, () =>
                {
                    var table = Output.Table("NAME", "REVISION", "SESSION", "VALUE");
                    foreach (var v in page.Values)
                    {
                        Output.Row(table, v.Name, Revision(v.Revision), v.SessionTag ?? "-", v.Value);
                    }

                    return table;
                });
                ListCommands.NoteNext(output, $"get {ListCommands.Quote(target)} --prefix", page.Next);
                return ExitCodes.Ok;
            }

            var value = await cluster.Coordination.CreateValue(target).GetAsync(cancellationToken);
            if (value.Value is not { } text)
            {
                throw new CliException("not-found", ExitCodes.Failed, $"Value '{target}' does not exist (revision {Revision(value.Revision)}).");
            }

            output.Write(Json(value), () => text);
            return ExitCodes.Ok;
        }, cancellationToken));
        return get;
    }

    public static Command Put(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The value's name." };
        var value = new Argument<string>("value") { Description = "The value to set (a persistent value)." };
        var ifRevision = IfRevision("set");
        var keep = new Option<bool>("--keep") { Description = "Keep the value set, bound to coord's session, until Ctrl+C or SIGTERM (which delete it); set again if the session is lost or the value deleted (a registration)." };
        var ttl = new Option<TimeSpan?>("--ttl") { Description = "With --keep, the session's lease: how soon the value goes if coord stops answering. Default 15s.", CustomParser = Durations.Parse };
        var put = new Command("put", "Set a value, or with --if-revision only if it is at that revision (0: only if it does not exist); prints the new revision. With --keep, keep it set until Ctrl+C.") { name, value, ifRevision, keep, ttl };
        put.Validators.Add(r =>
        {
            if (r.GetValue(keep) && r.GetValue(ifRevision) is not null)
            {
                r.AddError("--keep sets the value whatever it was; it takes no --if-revision.");
            }

            if (!r.GetValue(keep) && r.GetResult(ttl) is { Implicit: false })
            {
                r.AddError("--ttl is the lease of a value kept with --keep.");
            }
        });
        put.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, result.GetValue(ttl), async (cluster, output) =>
        {
            var target = cluster.Coordination.CreateValue(result.GetValue(name)!);
            if (result.GetValue(keep))
            {
                return await KeepAsync(output, target, result.GetValue(value)!, cancellationToken);
            }

            var written = result.GetValue(ifRevision) is { } expected
                ? await target.CompareAndSetAsync(expected, result.GetValue(value)!, cancellationToken)
                : new ValueWriteResult(true, await target.SetAsync(result.GetValue(value)!, cancellationToken));
            return Report(output, target.Name, written, expected: result.GetValue(ifRevision), "set");
        }, cancellationToken));
        return put;
    }

    public static Command Delete(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The value's name." };
        var ifRevision = IfRevision("deleted");
        var del = new Command("del", "Delete a value, or with --if-revision only if it is at that revision; a value that does not exist is left as it is (exit 0 unless --if-revision).") { name, ifRevision };
        del.Validators.Add(r =>
        {
            if (r.GetValue(ifRevision) is <= 0)
            {
                r.AddError("--if-revision of a delete names the revision the value is at: 1 or more.");
            }
        });
        del.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var target = cluster.Coordination.CreateValue(result.GetValue(name)!);
            var expected = result.GetValue(ifRevision);
            var written = await target.DeleteAsync(expected, cancellationToken);
            if (!written.Succeeded && expected is null)
            {
                output.Write(new { name = target.Name, deleted = false, revision = written.Current.Revision }, () => $"{target.Name}: did not exist");
                return ExitCodes.Ok;
            }

            return Report(output, target.Name, written, expected, "deleted");
        }, cancellationToken));
        return del;
    }

    public static Command Watch(ConnectionOptions connection)
    {
        var name = new Argument<string>("name") { Description = "The value's name." };
        var from = new Option<long?>("--after-revision") { Description = "Print the changes after this revision (default: print the current value, then every change)." };
        var watch = new Command("watch", "Print a value's changes in revision order, each once, until Ctrl+C (one JSON object per line with --json).") { name, from };
        watch.Validators.Add(r =>
        {
            if (r.GetValue(from) is < 0)
            {
                r.AddError("--after-revision is 0 or more.");
            }
        });
        watch.SetAction((result, cancellationToken) => CommandRunner.RunAsync(result, connection, null, async (cluster, output) =>
        {
            var value = cluster.Coordination.CreateValue(result.GetValue(name)!);
            long after;
            if (result.GetValue(from) is { } given)
            {
                after = given;
            }
            else
            {
                var current = await value.GetAsync(cancellationToken);
                after = current.Revision;
                output.Write(new { name = value.Name, revision = current.Revision, kind = "current", value = current.Value }, () => current.Value is { } text
                    ? $"revision {Revision(current.Revision)}: current: {text}"
                    : $"revision {Revision(current.Revision)}: does not exist");
            }

            try
            {
                await foreach (var e in value.WatchAsync(after, cancellationToken))
                {
                    Print(output, value.Name, e);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C is how watching ends.
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return watch;
    }

    /// <summary>Keeps the value set until interrupted, then deletes it (if it is still the one coord set) and exits 0.</summary>
    private static async Task<int> KeepAsync(Output output, CoordinationValue target, string value, CancellationToken cancellationToken)
    {
        await using var kept = await target.KeepEphemeralAsync(value, cancellationToken);
        var set = kept.Current;
        output.Write(
            new { name = target.Name, revision = set?.Revision, sessionTag = set?.SessionTag, kept = true },
            () => $"{target.Name}: kept at revision {Revision(set?.Revision ?? 0)} (session {set?.SessionTag}); Ctrl+C deletes it");
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM is how keeping ends: the keeper's disposal deletes the value.
        }

        return ExitCodes.Ok;
    }

    private static Option<long?> IfRevision(string done) =>
        new("--if-revision") { Description = $"Only if the value is at this revision (0: only if it does not exist); else nothing is {done} and coord exits 1." };

    private static int Report(Output output, string name, ValueWriteResult written, long? expected, string done)
    {
        if (!written.Succeeded)
        {
            var found = written.Current.Exists ? $"it is at revision {Revision(written.Current.Revision)}" : "it does not exist";
            throw new CliException("revision-mismatch", ExitCodes.Failed, $"Value '{name}' was not {done}: {found}, not at revision {Revision(expected ?? 0)}.");
        }

        output.Write(new { name, revision = written.Current.Revision }, () => $"{name}: {done} at revision {Revision(written.Current.Revision)}");
        return ExitCodes.Ok;
    }

    private static void Print(Output output, string name, ValueEvent e) =>
        output.Write(new { name, revision = e.Revision, kind = e.Kind, value = e.Value }, () => e.Kind == ValueEventKind.Deleted
            ? $"revision {Revision(e.Revision)}: deleted"
            : $"revision {Revision(e.Revision)}: {e.Kind.ToString().ToLowerInvariant()}: {e.Value ?? "(does not exist)"}");

    private static object Json(VersionedValue v) => new { name = v.Name, value = v.Value, revision = v.Revision, sessionTag = v.SessionTag };

    private static string Revision(long revision) => revision.ToString(CultureInfo.InvariantCulture);
}
