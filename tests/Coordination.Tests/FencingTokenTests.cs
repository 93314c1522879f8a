using Coordination.Grains.Leases;

namespace Coordination.Tests;

public sealed class FencingTokenTests
{
    [Theory]
    [InlineData(0, 1, (1L << 40) + 1)]             // first grant ever, cluster epoch 1
    [InlineData((1L << 40) + 5, 1, (1L << 40) + 6)] // keeps counting within an epoch
    [InlineData((1L << 40) + 5, 2, (2L << 40) + 1)] // state lost and re-initialised in epoch 2: jumps above
    [InlineData((3L << 40) + 9, 2, (3L << 40) + 10)] // state survived: a lower epoch never pulls it back
    public void Next_is_strictly_above_the_last_token_and_the_epoch_base(long last, long epoch, long expected)
    {
        var next = FencingTokens.Next(last, epoch);
        Assert.Equal(expected, next);
        Assert.True(next > last);
        Assert.True(next > FencingTokens.Base(epoch));
    }

    [Fact]
    public void Every_token_of_an_earlier_epoch_is_below_every_token_of_a_later_one()
    {
        var lastOfEpoch1 = FencingTokens.Base(2) - 1;
        Assert.Equal(1, FencingTokens.EpochOf(lastOfEpoch1));
        Assert.True(FencingTokens.Next(0, 2) > lastOfEpoch1);
    }

    [Fact]
    public void Epochs_beyond_the_token_space_are_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => FencingTokens.Base(FencingTokens.MaxEpoch + 1));

    [Fact]
    public void Token_space_exhaustion_throws_instead_of_wrapping() =>
        Assert.Throws<OverflowException>(() => FencingTokens.Next(long.MaxValue, 1));
}
