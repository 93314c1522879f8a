using Microsoft.Extensions.Options;

namespace Coordination.Membership.Protocol;

/// <summary>
/// Probe tuning. Defaults are the <see cref="Local"/> preset (loopback, one machine); <see cref="Lan"/> is
/// for silos on separate machines; <see cref="Ci"/> is the local preset slowed so probes of test clusters
/// that share a busy machine with other tests are not starved into false suspicions.
/// </summary>
public sealed class ProbeOptions
{
    public const string Section = "Coordination:Probes";

    /// <summary>Whether the silo runs our probes at all (Orleans' own membership always runs).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>One probe period: one member probed directly per period (stretched by local health).</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a direct probe waits for its ack before asking <see cref="IndirectChecks"/> peers to probe (stretched by local health).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Peers asked to probe a member that missed a direct probe.</summary>
    public int IndirectChecks { get; set; } = 3;

    /// <summary>Suspicion lasts at least this many probe intervals (times log10 of the group size, at least 1) before a member is declared dead.</summary>
    public int SuspicionMultiplier { get; set; } = 4;

    /// <summary>A suspicion without independent confirmations lasts this many times the minimum (Lifeguard).</summary>
    public int SuspicionMaxMultiplier { get; set; } = 3;

    /// <summary>Independent members (the declarer included) that must suspect a member before it is declared dead and handed to Orleans.</summary>
    public int DeathVotes { get; set; } = 2;

    /// <summary>Gossip about one change is piggybacked this many times log10(group size + 1), rounded up.</summary>
    public int RetransmitMultiplier { get; set; } = 4;

    /// <summary>Most gossip updates piggybacked on one message.</summary>
    public int MaxPiggyback { get; set; } = 8;

    /// <summary>How often a member exchanges its whole view with a random peer (anti-entropy).</summary>
    public TimeSpan PushPullInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Highest local-health score; the score multiplies the prober's own intervals and timeouts by (score + 1).</summary>
    public int MaxLocalHealth { get; set; } = 8;

    /// <summary>How long a silo the group declared dead waits for Orleans to stop it before it stops itself.</summary>
    public TimeSpan DeadSiloGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The shortest time between two steps of the host's loop, which otherwise sleeps until the protocol's next deadline (it steps this often while its probe waits for an ack, a suspicion is under way, or it is back from a stall).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Presets by name: Local, Lan, Ci.</summary>
    public static ProbeOptions Preset(string name) => name.ToUpperInvariant() switch
    {
        "LOCAL" => Local(),
        "LAN" => Lan(),
        "CI" => Ci(),
        _ => throw new ArgumentException($"Unknown probe preset '{name}': use Local, Lan or Ci.", nameof(name)),
    };

    public static ProbeOptions Local() => new();

    public static ProbeOptions Lan() => new()
    {
        ProbeInterval = TimeSpan.FromSeconds(1),
        ProbeTimeout = TimeSpan.FromMilliseconds(500),
        PushPullInterval = TimeSpan.FromSeconds(30),
    };

    public static ProbeOptions Ci() => new()
    {
        ProbeInterval = TimeSpan.FromMilliseconds(500),
        ProbeTimeout = TimeSpan.FromMilliseconds(250),
    };

    public void CopyTo(ProbeOptions target)
    {
        target.Enabled = Enabled;
        target.ProbeInterval = ProbeInterval;
        target.ProbeTimeout = ProbeTimeout;
        target.IndirectChecks = IndirectChecks;
        target.SuspicionMultiplier = SuspicionMultiplier;
        target.SuspicionMaxMultiplier = SuspicionMaxMultiplier;
        target.DeathVotes = DeathVotes;
        target.RetransmitMultiplier = RetransmitMultiplier;
        target.MaxPiggyback = MaxPiggyback;
        target.PushPullInterval = PushPullInterval;
        target.MaxLocalHealth = MaxLocalHealth;
        target.TickInterval = TickInterval;
        target.DeadSiloGrace = DeadSiloGrace;
    }
}

/// <summary>Checks the probe settings at start; each failure names the setting, its value and the rule.</summary>
internal sealed class ProbeOptionsValidator : IValidateOptions<ProbeOptions>
{
    public ValidateOptionsResult Validate(string? name, ProbeOptions o)
    {
        var errors = new List<string>();
        void Rule(bool ok, string setting, object value, string rule)
        {
            if (!ok)
            {
                errors.Add($"{ProbeOptions.Section}:{setting} = {value}: {rule}");
            }
        }

        Rule(o.ProbeInterval >= TimeSpan.FromMilliseconds(10) && o.ProbeInterval <= TimeSpan.FromMinutes(1), nameof(o.ProbeInterval), o.ProbeInterval, "must be between 10 ms and 1 min");
        Rule(o.ProbeTimeout > TimeSpan.Zero && o.ProbeTimeout < o.ProbeInterval, nameof(o.ProbeTimeout), o.ProbeTimeout, $"must be positive and below ProbeInterval ({o.ProbeInterval}), leaving time for indirect probes");
        Rule(o.IndirectChecks is >= 0 and <= 16, nameof(o.IndirectChecks), o.IndirectChecks, "must be 0 to 16");
        Rule(o.SuspicionMultiplier is >= 1 and <= 100, nameof(o.SuspicionMultiplier), o.SuspicionMultiplier, "must be 1 to 100");
        Rule(o.SuspicionMaxMultiplier is >= 1 and <= 100, nameof(o.SuspicionMaxMultiplier), o.SuspicionMaxMultiplier, "must be 1 to 100");
        Rule(o.DeathVotes is >= 2 and <= 16, nameof(o.DeathVotes), o.DeathVotes, "must be 2 to 16: one member alone never evicts another");
        Rule(o.RetransmitMultiplier is >= 1 and <= 100, nameof(o.RetransmitMultiplier), o.RetransmitMultiplier, "must be 1 to 100");
        Rule(o.MaxPiggyback is >= 1 and <= 1000, nameof(o.MaxPiggyback), o.MaxPiggyback, "must be 1 to 1000");
        Rule(o.PushPullInterval >= o.ProbeInterval, nameof(o.PushPullInterval), o.PushPullInterval, $"must be at least ProbeInterval ({o.ProbeInterval})");
        Rule(o.MaxLocalHealth is >= 0 and <= 64, nameof(o.MaxLocalHealth), o.MaxLocalHealth, "must be 0 to 64");
        Rule(o.DeadSiloGrace >= TimeSpan.Zero && o.DeadSiloGrace <= TimeSpan.FromMinutes(5), nameof(o.DeadSiloGrace), o.DeadSiloGrace, "must be 0 to 5 min");
        Rule(o.TickInterval > TimeSpan.Zero && o.TickInterval <= o.ProbeTimeout, nameof(o.TickInterval), o.TickInterval, $"must be positive and at most ProbeTimeout ({o.ProbeTimeout})");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
