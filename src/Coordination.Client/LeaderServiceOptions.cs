namespace Coordination.Client;

/// <summary>What a host does once a term of its leader-only service ended on its own (the work finished, or failed).</summary>
public enum LeaderServiceEnd
{
    /// <summary>Resign, wait <see cref="LeaderServiceOptions.CampaignDelay"/>, and campaign again (Kubernetes' leader election: the service runs on some instance while any is up).</summary>
    CampaignAgain = 0,

    /// <summary>Resign and campaign no more while this host lives (Curator's <c>LeaderSelector</c> without <c>autoRequeue</c>): other instances may still take it.</summary>
    StopLeading = 1,

    /// <summary>Resign, then stop the whole host (as .NET's <c>BackgroundServiceExceptionBehavior.StopHost</c>), e.g. to let an orchestrator restart it.</summary>
    StopHost = 2,
}

/// <summary>How <c>AddLeaderService</c> runs its service across terms.</summary>
public sealed class LeaderServiceOptions
{
    /// <summary>After the service's own work ended (a <c>BackgroundService</c>'s <c>ExecuteAsync</c> returned). Default <see cref="LeaderServiceEnd.CampaignAgain"/>.</summary>
    public LeaderServiceEnd WhenFinished { get; set; } = LeaderServiceEnd.CampaignAgain;

    /// <summary>After the service failed to start, run or stop. Default <see cref="LeaderServiceEnd.CampaignAgain"/>.</summary>
    public LeaderServiceEnd WhenFailed { get; set; } = LeaderServiceEnd.CampaignAgain;

    /// <summary>
    /// How long a term that ended on its own waits before the next campaign, so that a one-shot job of the only
    /// candidate is not run back to back (a term ended by a lost leadership campaigns at once). 0 to 1 hour; default 1 s.
    /// </summary>
    public TimeSpan CampaignDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the setting that is out of range.</summary>
    internal LeaderServiceOptions Validated()
    {
        if (!Enum.IsDefined(WhenFinished))
        {
            throw new ArgumentOutOfRangeException(nameof(WhenFinished), WhenFinished, "Not a LeaderServiceEnd.");
        }

        if (!Enum.IsDefined(WhenFailed))
        {
            throw new ArgumentOutOfRangeException(nameof(WhenFailed), WhenFailed, "Not a LeaderServiceEnd.");
        }

        return CampaignDelay >= TimeSpan.Zero && CampaignDelay <= TimeSpan.FromHours(1)
            ? this
            : throw new ArgumentOutOfRangeException(nameof(CampaignDelay), CampaignDelay, "A campaign delay is 0 to 1 hour.");
    }
}
