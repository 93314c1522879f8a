using System.Reflection;
using System.Text.RegularExpressions;
using Coordination.Client;
using Coordination.Grains.Hosting;
using Coordination.Membership.Protocol;
using Coordination.Replication.Hosting;
using Coordination.Silo.Configuration;
using Coordination.TestKit;

namespace Coordination.Tests;

/// <summary>
/// Conventions of the src assemblies that review alone lets drift (STYLE.md): a public class is sealed,
/// abstract or static by design, and time is read through an injected <see cref="TimeProvider"/> so that
/// tests and simulations can move it.
/// </summary>
public sealed partial class ConventionTests
{
    private static readonly Assembly[] Src =
    [
        typeof(CoordinationException).Assembly,
        typeof(CoordinationClient).Assembly,
        typeof(ReplicationOptions).Assembly,
        typeof(CoordinationOptions).Assembly,
        typeof(ProbeOptions).Assembly,
        typeof(SiloHostOptions).Assembly,
    ];

    /// <summary>Public classes open to inheritance on purpose, with the reason.</summary>
    private static readonly Dictionary<Type, string> OpenClasses = new()
    {
        [typeof(CoordinationException)] = "the base of every error the service raises on purpose: callers catch it",
        [typeof(CoordinationArgumentException)] = "the base of the bad-input errors (InvalidNameException, InvalidTtlException): callers catch it",
    };

    /// <summary>
    /// Source files (relative to the repository) that may read the wall clock directly, with the reason.
    /// Everything else goes through an injected <see cref="TimeProvider"/>.
    /// </summary>
    private static readonly Dictionary<string, string> WallClockReaders = new(StringComparer.Ordinal)
    {
    };

    [Fact]
    public void Every_public_class_is_sealed_abstract_or_static_unless_listed_with_its_reason()
    {
        var open = Src.SelectMany(a => a.GetExportedTypes())
            .Where(t => t.IsClass && !t.IsSealed && !t.IsAbstract && !OpenClasses.ContainsKey(t))
            .Select(t => t.FullName)
            .ToList();
        Assert.True(open.Count == 0, $"public classes neither sealed, abstract nor static (seal them, or list them in {nameof(OpenClasses)} with the reason): {string.Join(", ", open)}");

        var stale = OpenClasses.Keys.Where(t => !t.IsVisible || t.IsSealed || t.IsAbstract).Select(t => t.FullName).ToList();
        Assert.True(stale.Count == 0, $"listed in {nameof(OpenClasses)} but no longer a public unsealed class (remove them): {string.Join(", ", stale)}");
    }

    [Fact]
    public void Src_reads_the_wall_clock_only_through_TimeProvider()
    {
        var readers = WallClockReads().GroupBy(r => r.File).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

        var outside = readers.Where(r => !WallClockReaders.ContainsKey(r.Key)).SelectMany(r => r.Value).Select(r => $"{r.File}:{r.Line}: {r.Text}").ToList();
        Assert.True(outside.Count == 0, $"wall-clock reads outside {nameof(WallClockReaders)} (take an injected TimeProvider: GetUtcNow, GetTimestamp):{Environment.NewLine}{string.Join(Environment.NewLine, outside)}");

        var stale = WallClockReaders.Keys.Where(f => !readers.ContainsKey(f)).ToList();
        Assert.True(stale.Count == 0, $"listed in {nameof(WallClockReaders)} but no longer reading the wall clock (remove them): {string.Join(", ", stale)}");
    }

    private static IEnumerable<(string File, int Line, string Text)> WallClockReads()
    {
        var src = Path.Combine(Repo.Root, "src");
        var files = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(src, f).Split(Path.DirectorySeparatorChar).Any(part => part is "obj" or "bin"));
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(Repo.Root, file).Replace(Path.DirectorySeparatorChar, '/');
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var code = lines[i].TrimStart();
                if (!code.StartsWith("//", StringComparison.Ordinal) && WallClock().IsMatch(code))
                {
                    yield return (relative, i + 1, code);
                }
            }
        }
    }

    [GeneratedRegex(@"\bDateTime(Offset)?\s*\.\s*(UtcNow|Now|Today)\b")]
    private static partial Regex WallClock();
}
