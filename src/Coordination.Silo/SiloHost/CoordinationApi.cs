namespace Coordination.Silo.SiloHost;

/// <summary>
/// The coordination API served next to the dashboard (which has no extension point for pages of its
/// own): partitions and their replicas, the audit trail, and linearizable lock lookups.
/// </summary>
internal static class CoordinationApi
{
    public static void MapCoordinationApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/coordination/partitions", async (IGrainFactory grains) => Results.Json(await grains.GetGrain<IClusterAdminGrain>(0).GetView()));
        app.MapGet("/api/coordination/locks/{**name}", async (string name, IGrainFactory grains) =>
        {
            if (Names.Check(name) is { } problem)
            {
                return Results.BadRequest(new { error = problem });
            }

            try
            {
                return Results.Json(await grains.GetGrain<ILockGrain>(name).GetInfo());
            }
            catch (CoordinationException ex)
            {
                return Results.Json(new { error = ex.Message, type = ex.GetType().Name }, statusCode: 503);
            }
        });
    }
}
