namespace Coordination.Silo.LocalClustering;

/// <summary>The files of the local cluster's data directory.</summary>
internal static class LocalFiles
{
    public const string Membership = "membership.json";
    public const string Metadata = "metadata.json";

    /// <summary>Held by the running launcher, so a second launcher on the same directory refuses to start.</summary>
    public const string Launcher = "launcher.lock";
}
