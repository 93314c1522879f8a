namespace Coordination.Silo.SiloHost;

/// <summary>
/// The JSON API's typed errors: <c>{"error": message, "type": exception type}</c> with 400 for bad input (nothing was
/// changed), 404 for a session that does not exist, 409 for a refused revoke, 503 when the cluster cannot answer now (no quorum, no metadata yet).
/// </summary>
internal static class ApiErrors
{
    public static async Task<IResult> RunAsync(Func<Task<IResult>> handler)
    {
        try
        {
            return await handler();
        }
        catch (CoordinationArgumentException ex)
        {
            return Error(ex, StatusCodes.Status400BadRequest);
        }
        catch (RevokeRefusedException ex)
        {
            return Error(ex, StatusCodes.Status409Conflict);
        }
        catch (SessionNotFoundException ex)
        {
            return Error(ex, StatusCodes.Status404NotFound);
        }
        catch (CoordinationException ex)
        {
            return Error(ex, StatusCodes.Status503ServiceUnavailable);
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException)
        {
            return Error(ex, StatusCodes.Status503ServiceUnavailable);
        }
    }

    public static IResult BadRequest(string parameter, string problem) =>
        Results.Json(new { error = $"{problem} (parameter '{parameter}')", type = nameof(CoordinationArgumentException) }, statusCode: StatusCodes.Status400BadRequest);

    private static IResult Error(Exception ex, int status) => Results.Json(new { error = ex.Message, type = ex.GetType().Name }, statusCode: status);
}
