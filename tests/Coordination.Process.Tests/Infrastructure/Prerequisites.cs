namespace Coordination.Process.Tests.Infrastructure;

/// <summary>
/// Tests that need an installed program skip with a clear reason when it is missing, unless
/// COORD_REQUIRE_ALL=1 (as CI sets), where a missing prerequisite fails the test instead.
/// </summary>
public static class Prerequisites
{
    public static bool RequireAll => Environment.GetEnvironmentVariable("COORD_REQUIRE_ALL") == "1";

    public static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    public static string Require(string program, string install)
    {
        var path = Find(program);
        if (path is not null)
        {
            return path;
        }

        var reason = $"{program} is not installed ({install}).";
        if (RequireAll)
        {
            throw new InvalidOperationException($"COORD_REQUIRE_ALL=1 and a prerequisite is missing: {reason}");
        }

        Skip.If(true, reason);
        return null!;
    }
}
