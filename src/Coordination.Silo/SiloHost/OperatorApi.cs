using Coordination.Silo.Configuration;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// Operator actions over HTTP, for the coordination page and scripts: revoke a lock, an election's leadership, a
/// semaphore's permits, a reader-writer lock's grants or a session; re-initialise partitions that lost their majority. Off unless <see cref="SiloHostOptions.OperatorActions"/>, which
/// the options allow only with <see cref="SiloHostOptions.HttpToken"/> (so every call here carried the token). Each
/// names its operator and reason, which the admin grain writes to the audit trail; bad input changes nothing.
/// </summary>
internal static class OperatorApi
{
    /// <summary>What the page needs to know about the host serving it.</summary>
    public static void MapOperatorApi(this IEndpointRouteBuilder app, SiloHostOptions host, string servedBy)
    {
        app.MapGet("/api/coordination/config", () => Results.Json(new { servedBy, operatorActions = host.OperatorActions }));
        app.MapPost("/api/coordination/revoke", (RevokeCommand? command, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            if (Refused(host) is { } refused)
            {
                return refused;
            }

            var admin = grains.GetGrain<IClusterAdminGrain>(0);
            string Reason() => command?.Reason ?? string.Empty;
            string Operator() => command?.Operator ?? string.Empty;
            return command?.Kind switch
            {
                "lock" => Answer(command.Name, await admin.RevokeLock(Names.Validate(command.Name), Reason(), Operator())),
                "election" => Answer(command.Name, await admin.RevokeLeadership(Names.Validate(command.Name), Reason(), Operator())),
                "semaphore" => Answer(command.Name, await admin.RevokeSemaphore(Names.Validate(command.Name), Reason(), Operator())),
                "readerWriterLock" => Answer(command.Name, await admin.RevokeReaderWriterLock(Names.Validate(command.Name), Reason(), Operator())),
                "session" => Answer(await admin.RevokeSession(command.Name ?? string.Empty, Reason(), Operator())),
                _ => ApiErrors.BadRequest("kind", $"'{command?.Kind}' is not something to revoke: use \"lock\", \"election\", \"semaphore\", \"readerWriterLock\" or \"session\" (its name a session tag)"),
            };
        }));
        app.MapPost("/api/coordination/reinitialize", (ReinitializeCommand? command, IGrainFactory grains) => ApiErrors.RunAsync(async () =>
        {
            if (Refused(host) is { } refused)
            {
                return refused;
            }

            // An empty list means "every lost partition" to the admin grain; from a click it must name them.
            return command?.Partitions is not { Length: > 0 } partitions
                ? ApiErrors.BadRequest("partitions", "name the partitions to re-initialise")
                : Results.Json(await grains.GetGrain<IClusterAdminGrain>(0).Reinitialize(partitions, command.Reason ?? string.Empty, command.Operator ?? string.Empty));
        }));
    }

    private static IResult Answer(string? name, RevokeResult result) => Results.Json(new { name, revoked = result.Revoked, lastFencingToken = result.LastFencingToken });

    /// <summary>A semaphore's or reader-writer lock's revoke: every holder it took the grant from (empty when nobody held it).</summary>
    private static IResult Answer(string? name, SharedRevokeResult result) => Results.Json(new { name, revoked = result.Revoked, lastFencingToken = result.LastFencingToken });

    /// <summary>A session's revoke, shaped as the sessions listing shows a session.</summary>
    private static IResult Answer(SessionRevokeResult result)
    {
        var s = result.Session;
        return Results.Json(new
        {
            session = new { tag = s.Tag, status = s.Status.ToString(), ttlMs = s.Ttl.TotalMilliseconds, remainingMs = s.Remaining?.TotalMilliseconds, holdings = s.Holdings, owner = s.Owner, revoked = s.Revoked },
            alreadyEnded = result.AlreadyEnded,
        });
    }

    private static IResult? Refused(SiloHostOptions host) => host.OperatorActions
        ? null
        : Results.Json(new { error = $"Operator actions are off on this host: set {SiloHostOptions.Section}:OperatorActions=true (with {SiloHostOptions.Section}:HttpToken).", type = "OperatorActionsDisabled" }, statusCode: StatusCodes.Status403Forbidden);

    /// <summary>The body of <c>POST /api/coordination/revoke</c>.</summary>
    /// <param name="Kind"><c>lock</c>, <c>election</c>, <c>semaphore</c>, <c>readerWriterLock</c> or <c>session</c> (then <paramref name="Name"/> is the session's tag).</param>
    internal sealed record RevokeCommand(string? Kind, string? Name, string? Operator, string? Reason);

    /// <summary>The body of <c>POST /api/coordination/reinitialize</c>.</summary>
    internal sealed record ReinitializeCommand(int[]? Partitions, string? Operator, string? Reason);
}
