namespace Coordination.Silo;

/// <summary>Runtime settings a silo process makes for itself, before anything else runs, each measured on two cores.</summary>
internal static class RuntimeTuning
{
    /// <summary>
    /// The runtime's switch, read from the environment once when the first socket is used, that runs a socket's
    /// completions on the socket engine's threads instead of queueing each to the thread pool: one thread hop less
    /// per message received, and on a machine whose cores the silos share, a hop is much of a message's cost.
    /// </summary>
    public const string InlineSocketCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets <see cref="InlineSocketCompletions"/> unless the environment already says either way (0 turns it off); a launcher's silos inherit it.</summary>
    public static void Apply()
    {
        if (Environment.GetEnvironmentVariable(InlineSocketCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletions, "1");
        }
    }
}
