using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>The lost-grant checker: an unreleased grant is still held at the end, and tokens never go back.</summary>
public sealed class LostGrantCheckerTests
{
    private const string Key = "L";

    private static History Grants()
    {
        long now = 0;
        var recorder = new HistoryRecorder(() => now++);
        recorder.Invoke(1, "acquire", Key).Ok(1);
        recorder.Invoke(1, "release", Key, 1).Ok();
        recorder.Invoke(2, "acquire", Key).Ok(2);
        recorder.Invoke(3, "acquire", Key).Ok(3);
        recorder.Record(3, "lost", Key, 3, null);
        return recorder.Snapshot();
    }

    private static CheckResult Check(long? held, long fresh) =>
        LostGrantChecker.Check(Grants(), new Dictionary<string, long?> { [Key] = held }, new Dictionary<string, long> { [Key] = fresh });

    [Fact]
    public void The_unreleased_grant_held_at_the_end_and_a_higher_fresh_token_pass() =>
        Assert.True(Check(held: 2, fresh: 4).Valid);

    [Fact]
    public void An_unreleased_grant_missing_at_the_end_is_caught()
    {
        var result = Check(held: null, fresh: 4);
        Assert.Contains("never released nor lost, but at the end the lock is free", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_released_token_still_holding_the_lock_is_caught()
    {
        var result = Check(held: 1, fresh: 4);
        Assert.Contains(result.Violations, v => v.Contains("token 1 was released"));
    }

    [Fact]
    public void A_fresh_token_not_above_every_acknowledged_one_is_caught()
    {
        var result = Check(held: 2, fresh: 3);
        Assert.Contains("fresh token 3", Assert.Single(result.Violations));
    }
}
