using Coordination.TestKit.Faults;
using static Coordination.Tests.Faults.HandOps;

namespace Coordination.Tests.Faults;

/// <summary>Which grants the fault report leaves to fencing alone: those held across a pause of their own client.</summary>
public sealed class PausedGrantsTests
{
    private const int Reader = (2 * FaultRun.ProcessesPerClient) + 1;
    private const long Token = 8;

    [Fact]
    public void A_reader_that_takes_its_epochs_token_again_is_judged_by_its_own_end()
    {
        // Found by the soak (seed 1607): a reader released token 8, took token 8 again (same write epoch) just before
        // its client was paused, and lost it on waking. Its first release must not count as the second grant's end.
        var ops = new List<Operation>
        {
            Ok(Reader, "acquire", 100, 110, a: 0, result: Token),
            Ok(Reader, "release", 120, 121, a: Token),
            Ok(Reader, "acquire", 130, 140, a: 0, result: Token),
            Ok(Reader, "lost", 900, 900, a: Token),
        };
        var pauses = new List<(int Client, long Started, long Healed)> { (2, 200, 800) };
        Assert.Contains((Key, Reader, Token), FaultReport.HeldAcrossPauses(ops, pauses));
    }

    [Fact]
    public void A_grant_released_before_the_pause_is_judged_as_usual()
    {
        var ops = new List<Operation>
        {
            Ok(Reader, "acquire", 100, 110, a: 0, result: Token),
            Ok(Reader, "release", 120, 121, a: Token),
        };
        var pauses = new List<(int Client, long Started, long Healed)> { (2, 200, 800) };
        Assert.Empty(FaultReport.HeldAcrossPauses(ops, pauses));
    }

    [Fact]
    public void A_pause_of_another_client_leaves_the_grant_judged()
    {
        var ops = new List<Operation> { Ok(Reader, "acquire", 100, 110, a: 0, result: Token) };
        var pauses = new List<(int Client, long Started, long Healed)> { (3, 200, 800) };
        Assert.Empty(FaultReport.HeldAcrossPauses(ops, pauses));
    }
}
