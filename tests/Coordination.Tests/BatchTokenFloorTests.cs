using Coordination.Replication.Protocol;

namespace Coordination.Tests;

/// <summary>
/// A batch of changes folded into one accept (<see cref="ChangeBatch{TValue}"/>): a change that finds the register
/// deleted by an earlier change of the same batch creates it again above every token issued along the way. The
/// register lifecycle simulation caught the opposite: a lock retired (deleted) and acquired again in one batch
/// started over from the floor the batch began with and handed out a token already issued.
/// </summary>
public sealed class BatchTokenFloorTests
{
    [Fact]
    public void A_register_deleted_and_created_again_in_one_batch_counts_on_from_the_deleted_value()
    {
        var delete = new PendingChange<Counter, bool>((_, _) => (null, true), 0);
        var create = new PendingChange<Counter, long>(Issue, 0);
        var batch = new ChangeBatch<Counter>([delete, create]);

        var result = batch.Apply(new Counter(16), new RegisterContext(1, 1, TokenFloor: 3));

        Assert.Equal(17, result.Next!.Last);
        Assert.Equal(17, result.Floor);
    }

    [Fact]
    public void A_register_created_in_a_batch_that_deleted_nothing_counts_from_the_batch_floor()
    {
        var batch = new ChangeBatch<Counter>([new PendingChange<Counter, long>(Issue, 0)]);

        var result = batch.Apply(null, new RegisterContext(1, 1, TokenFloor: 3));

        Assert.Equal(4, result.Next!.Last);
    }

    /// <summary>Issues the next token: an absent register counts from the context's floor.</summary>
    private static (Counter?, long) Issue(Counter? current, RegisterContext context)
    {
        var next = new Counter((current?.Last ?? context.TokenFloor) + 1);
        return (next, next.Last);
    }

    private sealed record Counter(long Last) : IRegisterValue
    {
        long IRegisterValue.Floor => Last;

        int IRegisterValue.EstimatedBytes => 16;
    }
}
