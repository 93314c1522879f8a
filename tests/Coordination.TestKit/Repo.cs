namespace Coordination.TestKit;

/// <summary>Finds the repository and the built programs the tests start.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release: whatever these tests were built as.</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    public static string SiloDll => Built("src/Coordination.Silo", "Coordination.Silo.dll");

    public static string CliDll => Built("src/Coordination.Cli", "coord.dll");

    public static string TestClientDll => Built("tests/Coordination.TestClient", "Coordination.TestClient.dll");

    private static string Built(string project, string dll)
    {
        var path = Path.Combine(Root, project, "bin", Configuration, "net10.0", dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{dll} is not built at {path}; build the solution first.", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Coordination.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Coordination.sln not found above " + AppContext.BaseDirectory);
    }
}
