namespace Coordination.Silo.Page;

/// <summary>
/// The coordination page, served by the launcher (beside the Orleans dashboard) and by every silo, behind the same
/// credentials as the rest of the host's HTTP surface. Its HTML, script and style are resources of this assembly
/// (the files beside this one); the page reads the JSON API (<see cref="SiloHost.CoordinationApi"/>) every
/// 1.5 s and needs nothing from the internet.
/// </summary>
internal static class CoordinationPage
{
    private static readonly (string Route, string File, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/page/page.css", "page.css", "text/css; charset=utf-8"),
        ("/page/page.js", "page.js", "text/javascript; charset=utf-8"),
        ("/page/tables.js", "tables.js", "text/javascript; charset=utf-8"),
        ("/page/charts.js", "charts.js", "text/javascript; charset=utf-8"),
        ("/page/actions.js", "actions.js", "text/javascript; charset=utf-8"),
    ];

    public static void MapCoordinationPage(this IEndpointRouteBuilder app)
    {
        foreach (var (route, file, contentType) in Files)
        {
            var content = Read(file);
            app.MapGet(route, () => Results.Text(content, contentType));
        }
    }

    private static string Read(string file)
    {
        var name = $"Coordination.Page.{file}";
        using var stream = typeof(CoordinationPage).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The page resource {name} is missing from the build (see Coordination.Silo.csproj).");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
