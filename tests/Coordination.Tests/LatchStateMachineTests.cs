using Coordination.Grains.Latches;

namespace Coordination.Tests;

public sealed class LatchStateMachineTests
{
    private const string Name = "start";

    [Fact]
    public void Counts_down_to_zero_once_per_request_and_refuses_below_zero()
    {
        LatchRecord? r = null;
        var first = Guid.NewGuid();
        (r, var s1) = LatchStateMachine.CountDown(r, Name, first, 2, new());
        Assert.Equal(1, s1.Count);
        (r, var retry) = LatchStateMachine.CountDown(r, Name, first, 2, new());
        Assert.Equal(1, retry.Count);
        (r, var s2) = LatchStateMachine.CountDown(r, Name, Guid.NewGuid(), 2, new());
        Assert.True(s2.IsReleased);
        var over = Assert.Throws<LatchMisuseException>(() => LatchStateMachine.CountDown(r, Name, Guid.NewGuid(), 2, new()));
        Assert.Equal(Name, over.Latch);
    }

    [Fact]
    public void Another_initial_count_is_refused_and_an_absent_latch_is_at_its_full_count()
    {
        var (r, _) = LatchStateMachine.CountDown(null, Name, Guid.NewGuid(), 3, new());
        Assert.Throws<LatchMisuseException>(() => LatchStateMachine.CountDown(r, Name, Guid.NewGuid(), 4, new()));
        Assert.Throws<LatchMisuseException>(() => LatchStateMachine.State(r, Name, 2));
        Assert.Equal(new LatchState(Name, 5, 5), LatchStateMachine.State(null, Name, 5));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(LatchStateMachine.MaxCount + 1)]
    public void Initial_counts_out_of_range_are_refused(int count) =>
        Assert.Throws<CoordinationArgumentException>(() => LatchStateMachine.ValidateCount(count));
}
