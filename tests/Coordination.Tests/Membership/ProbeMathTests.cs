using Coordination.Membership.Protocol;

namespace Coordination.Tests.Membership;

/// <summary>Case tables for the timing rules (local preset unless stated: 250 ms interval, multiplier 4, max multiplier 3).</summary>
public sealed class ProbeMathTests
{
    private static readonly ProbeOptions Local = ProbeOptions.Local();

    [Theory]
    [InlineData(1, 1000)] // log10 below 1 counts as 1
    [InlineData(3, 1000)]
    [InlineData(10, 1000)]
    [InlineData(100, 2000)]
    [InlineData(1000, 3000)]
    public void The_shortest_suspicion_grows_with_log10_of_the_group(int size, double ms) =>
        Assert.Equal(ms, ProbeMath.SuspicionMin(size, Local).TotalMilliseconds, 3);

    [Theory]
    [InlineData(3, 0, 1000)] // too few others to confirm: the minimum at once
    [InlineData(4, 0, 3000)] // expected 2 confirmations: starts at max (3 × min)
    [InlineData(4, 1, 1738.1)] // max − (max − min)·log(2)/log(3)
    [InlineData(4, 2, 1000)] // all expected confirmations: the minimum
    [InlineData(4, 5, 1000)] // never below the minimum
    [InlineData(100, 0, 6000)]
    [InlineData(100, 2, 2000)]
    public void Lifeguard_suspicion_shrinks_with_independent_confirmations(int size, int confirmations, double ms) =>
        Assert.Equal(ms, ProbeMath.SuspicionTimeout(size, confirmations, Local).TotalMilliseconds, 1);

    [Theory]
    [InlineData(0, 250)]
    [InlineData(1, 500)]
    [InlineData(8, 2250)]
    public void Local_health_stretches_the_probers_own_timing(int health, double ms) =>
        Assert.Equal(ms, ProbeMath.Scaled(Local.ProbeInterval, health).TotalMilliseconds, 3);

    [Theory]
    [InlineData(3, 4)]
    [InlineData(9, 4)]
    [InlineData(10, 8)]
    [InlineData(100, 12)]
    public void Gossip_is_retransmitted_a_logarithmic_number_of_times(int size, int limit) =>
        Assert.Equal(limit, ProbeMath.RetransmitLimit(size, Local));

    [Theory]
    [InlineData(3, 1000)] // the shortest suspicion
    [InlineData(25, 3250)] // time to probe half the group
    public void Contact_with_a_majority_is_judged_over_a_window(int size, double ms) =>
        Assert.Equal(ms, ProbeMath.ContactWindow(size, Local).TotalMilliseconds, 1);

    [Fact]
    public void Presets_are_valid_and_bad_settings_are_named()
    {
        var validator = new ProbeOptionsValidator();
        foreach (var preset in new[] { "Local", "Lan", "Ci" })
        {
            Assert.True(validator.Validate(null, ProbeOptions.Preset(preset)).Succeeded, preset);
        }

        var bad = ProbeOptions.Local();
        bad.ProbeTimeout = bad.ProbeInterval;
        bad.DeathVotes = 1;
        var result = validator.Validate(null, bad);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("Coordination:Probes:ProbeTimeout", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Coordination:Probes:DeathVotes", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => ProbeOptions.Preset("Galaxy"));
    }
}
