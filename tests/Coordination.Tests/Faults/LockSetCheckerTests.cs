using Coordination.TestKit.Faults;

namespace Coordination.Tests.Faults;

/// <summary>The lock-set checker: acknowledged additions survive, refused ones leave no trace.</summary>
public sealed class LockSetCheckerTests
{
    private static History Adds()
    {
        long now = 0;
        var recorder = new HistoryRecorder(() => now++);
        recorder.Invoke(1, "write", "set", 1).Ok();
        recorder.Invoke(2, "write", "set", 2).Ok();
        recorder.Invoke(3, "write", "set", 3).Fail("token 4 is below 5");
        recorder.Invoke(4, "write", "set", 4).Info("timed out");
        return recorder.Snapshot();
    }

    [Fact]
    public void Acknowledged_elements_present_and_unknown_ones_either_way_pass()
    {
        Assert.True(LockSetChecker.Check(Adds(), [1, 2]).Valid);
        Assert.True(LockSetChecker.Check(Adds(), [2, 4, 1]).Valid);
    }

    [Fact]
    public void A_lost_update_is_caught()
    {
        var result = LockSetChecker.Check(Adds(), [1, 4]);
        Assert.Contains("lost update: element 2", Assert.Single(result.Violations));
    }

    [Fact]
    public void A_refused_write_that_left_its_element_is_caught()
    {
        var result = LockSetChecker.Check(Adds(), [1, 2, 3]);
        Assert.Contains("element 3 is present although its write was refused", Assert.Single(result.Violations));
    }

    [Fact]
    public void An_element_present_twice_is_caught()
    {
        var result = LockSetChecker.Check(Adds(), [1, 2, 2]);
        Assert.Contains("element 2 is present 2 times", Assert.Single(result.Violations));
    }
}
