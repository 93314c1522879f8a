using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Coordination.Silo.Configuration;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// The HTTP surfaces' credentials: with <see cref="SiloHostOptions.HttpToken"/> set, a request without the token is
/// answered 401, except the few endpoints load balancers and clients finding gateways read. Without a token nothing
/// is checked, which the options allow only on loopback (<see cref="HttpExposure"/>).
/// </summary>
internal static class HttpCredentials
{
    /// <summary>Readable without the token: liveness, readiness, and the silo list clients refresh their gateways from.</summary>
    private static readonly string[] OpenPaths = ["/health/live", "/health/ready", "/api/orleans-membership"];

    public static void UseHttpCredentials(this WebApplication app, SiloHostOptions host)
    {
        if (string.IsNullOrEmpty(host.HttpToken))
        {
            return;
        }

        var token = host.HttpToken;
        app.Use(async (context, next) =>
        {
            if (IsOpen(context.Request.Path) || Presents(context.Request.Headers.Authorization.ToString(), token))
            {
                await next(context);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"coordination\", Bearer";
        });
    }

    public static bool IsOpen(PathString path) => OpenPaths.Any(p => path.Equals(p, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether an Authorization header carries <paramref name="token"/>: as a bearer token, or as a Basic password (any user name).</summary>
    public static bool Presents(string? authorization, string token)
    {
        if (!AuthenticationHeaderValue.TryParse(authorization, out var header) || header.Parameter is not { } credentials)
        {
            return false;
        }

        if (header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return SameSecret(credentials, token);
        }

        if (!header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(credentials));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon >= 0 && SameSecret(decoded[(colon + 1)..], token);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The header a caller of the host's own endpoints sends (the launcher asking its silos), or null without a token.</summary>
    public static AuthenticationHeaderValue? Header(SiloHostOptions host) =>
        string.IsNullOrEmpty(host.HttpToken) ? null : new AuthenticationHeaderValue("Bearer", host.HttpToken);

    // In constant time, so response timing does not reveal how much of a guess was right.
    private static bool SameSecret(string presented, string token) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(token));
}
