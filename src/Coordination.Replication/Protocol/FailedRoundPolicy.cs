using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// What a proposer does after a round of either phase missed its majority: re-read the configuration, then
/// retry at once under a newer one, fail (<see cref="ReplicasLostException"/> when the majority is gone for
/// good, <see cref="QuorumUnavailableException"/> when time is up or nothing suggests a retry would help), or
/// pause a random, growing moment before the retry (contention, replicas catching up).
/// </summary>
internal sealed class FailedRoundPolicy(string key, int partition, IPartitionDirectory directory, ProposerConfiguration configuration, TimeProvider time, TimeSpan maxConflictBackoff, Random random)
{
    // Attempt n (from 1) waits a uniform moment below min(2^n ms, maxConflictBackoff).
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(1), maxConflictBackoff, jitter: BackoffJitter.Full, random: random);

    /// <summary>Returns when the round may be retried; throws when the operation must fail.</summary>
    /// <param name="attempt">1 for the first failed round of this phase, growing by one per retry.</param>
    public async Task HandleAsync(PartitionConfiguration config, RoundOutcome round, long deadline, int attempt)
    {
        var outOfTime = time.GetTimestamp() >= deadline;

        // Judge only the newest configuration: a copy cached before a replacement can look lost (a member
        // it still lists as recovering, another just died) while the partition is healthy under a newer epoch.
        PartitionConfiguration fresh;
        try
        {
            fresh = await directory.RefreshAsync(partition, config.Epoch, CancellationToken.None);
        }
        catch (Exception ex) when (ex is not CoordinationException)
        {
            // The metadata store is out of reach too: nothing is known beyond "no majority", which is retryable.
            throw new QuorumUnavailableException(key, round.Ok, config.QuorumSize, $"{round.Describe()}; the replica configuration could not be re-read: {ex.Message}");
        }

        if (fresh.Epoch > config.Epoch)
        {
            configuration.Adopt(fresh);
            if (!outOfTime)
            {
                return;
            }
        }

        // A member still listed as recovering that voted in this round has finished: it counts as a holder.
        if (ConfigurationPlanner.HasLostMajority(fresh, directory.IsDead, member => fresh.Epoch == config.Epoch && round.AnsweredActive(member)))
        {
            throw new ReplicasLostException(key, partition, $"{round.Describe()}; configuration {fresh}");
        }

        if (outOfTime || (round.Rejected == 0 && round.NewerEpoch <= config.Epoch && round.Recovering == 0 && round.Behind == 0))
        {
            throw new QuorumUnavailableException(key, round.Ok, config.QuorumSize, round.Describe());
        }

        // Contention with another proposer (a duplicate activation, a retry elsewhere) or replicas catching
        // up: pause a random, growing moment so dueling proposers stop colliding.
        await Task.Delay(_backoff.DelayFor(attempt), time);
    }
}
