using System.Net;

namespace Coordination.Silo.Configuration;

/// <summary>
/// The rules for what the host exposes over HTTP: the surfaces stay on loopback unless a token guards them, a token is
/// long enough to be a secret, and the test-only fault endpoints never run on a host reachable from other machines.
/// </summary>
internal static class HttpExposure
{
    public const int MinimumTokenLength = 16;

    /// <summary>True when <paramref name="address"/> is an IP address only this machine reaches (127.0.0.0/8, ::1).</summary>
    public static bool IsLoopback(string address) => IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip);

    /// <summary>Every broken rule, each naming the setting, its value and what to do.</summary>
    public static IEnumerable<string> Check(SiloHostOptions o)
    {
        var s = SiloHostOptions.Section;
        if (!IPAddress.TryParse(o.HttpAddress, out _))
        {
            yield return $"{s}:HttpAddress is '{o.HttpAddress}': it must be an IP address (127.0.0.1 keeps the dashboard, page, API and health endpoints on this machine).";
        }
        else if (!IsLoopback(o.HttpAddress) && string.IsNullOrEmpty(o.HttpToken))
        {
            yield return $"{s}:HttpAddress is '{o.HttpAddress}': the dashboard, coordination page, JSON API and health endpoints would be open to other machines without credentials. Set {s}:HttpToken (a secret of at least {MinimumTokenLength} characters), or keep {s}:HttpAddress on loopback (127.0.0.1).";
        }

        if (o.HttpToken is { } token && (token.Length < MinimumTokenLength || token.Any(char.IsWhiteSpace)))
        {
            yield return $"{s}:HttpToken is {token.Length} characters: it must be at least {MinimumTokenLength}, without white space (the value is not shown).";
        }

        if (o.OperatorActions && string.IsNullOrEmpty(o.HttpToken))
        {
            yield return $"{s}:OperatorActions is true without {s}:HttpToken: operator actions (revoke a lock, re-initialise a partition) need credentials even on loopback. Set {s}:HttpToken (a secret of at least {MinimumTokenLength} characters), or set {s}:OperatorActions to false.";
        }

        if (o.FaultInjection && !(IsLoopback(o.HttpAddress) && IsLoopback(o.ListenAddress)))
        {
            yield return $"{s}:FaultInjection is true with {s}:ListenAddress '{o.ListenAddress}' and {s}:HttpAddress '{o.HttpAddress}': the test-only fault endpoints (partitions, clock skew) run only on a host bound to loopback.";
        }
    }
}
