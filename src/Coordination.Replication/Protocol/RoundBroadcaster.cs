using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// Runs one round of either phase and waits until a majority said yes or is out of reach, the round timeout
/// passed or the operation's deadline came. Records the round in <see cref="ReplicationMetrics"/>.
/// </summary>
/// <remarks>
/// A thrifty round (Paxos' "thrifty" variant) asks only as many members as the majority needs, in the order of
/// <see cref="RoundTargets"/> (this silo's replica first), and asks the rest only when one of those answered
/// anything but yes, or when they have not all answered within the hedge delay. Any majority decides a round as
/// well as any other, so this changes what a round costs (on three replicas, one remote request instead of two),
/// never what it decides: every prepare and every recovery reads a majority, which always includes a member that
/// took the last accept. A member left out holds an older value of the register until an accept reaches it (a
/// hedged round, a deletion, the tombstone collector's write-back); what reads one replica's own copy (the failover
/// sweeper, operator listings) may see that older value. A round whose every member must answer (a deletion,
/// before its tombstone may be dropped) asks everyone at once.
/// </remarks>
/// <param name="hedges">The silo's shared hedge timer; one of this broadcaster's own when null and a hedge delay is configured.</param>
internal sealed class RoundBroadcaster(IReplicaTransport transport, TimeProvider time, TimeSpan roundTimeout, TimeSpan? hedgeDelay, RoundTargets targets, ProposerConfiguration configuration, HedgeTimer? hedges = null)
{
    private readonly long _roundTimeout = (long)(roundTimeout.TotalSeconds * time.TimestampFrequency);
    private readonly long? _hedgeDelay = hedgeDelay is { } d ? (long)(d.TotalSeconds * time.TimestampFrequency) : null;
    private readonly HedgeTimer? _hedges = hedgeDelay is { } delay && delay > TimeSpan.Zero ? hedges is { } shared && shared.Delay == delay ? shared : new HedgeTimer(time, delay) : null;

    /// <summary>The round's replies, sealed: a reply that arrives later no longer counts.</summary>
    /// <param name="everyMember">Ask every member at once (a deletion); otherwise the round is thrifty when a hedge delay is configured.</param>
    public async Task<RoundOutcome> RunAsync(PartitionConfiguration config, ReplicaRequest request, long deadline, int needed, bool everyMember = false)
    {
        var started = time.GetTimestamp();
        var round = new RoundOutcome(config, needed);
        var order = targets.Order(config);
        var first = everyMember || _hedgeDelay is null ? order.Length : Math.Min(needed, order.Length);

        // Ends the wait for the hedge: completed with true by a first member's reply that decides the round or is
        // anything but yes, with false by the hedge timer. Inline, like the round's own outcome: every step stays on
        // the caller's scheduler (in the simulations, the one that replays a seed exactly).
        var answered = first < order.Length ? new TaskCompletionSource<bool>() : null;
        for (var i = 0; i < first; i++)
        {
            _ = SendAsync(round, order[i], request, answered);
        }

        if (answered is not null && (!round.Done.IsCompleted || round.Ok < needed))
        {
            // A round already lost among those asked first (a rejection and a failure, both at once) still asks
            // the rest: their replies tell the failed-round policy who is active. Waits for the first members'
            // majority up to the hedge delay, and asks the rest if it has not come (inline, not a method of its own:
            // every round of a busy silo comes here, and each async method a round suspends in allocates).
            var left = Math.Max(0, deadline - time.GetTimestamp());
            var delay = Math.Min(_hedgeDelay!.Value, left);
            bool inTime;
            if (_hedges is { } hedges && left >= hedges.LongestWait)
            {
                // The common case, on the silo's shared timer (which may run a round out a little late: only with the
                // time for that left before the operation's deadline).
                if (!answered.Task.IsCompleted)
                {
                    hedges.Start(answered);
                }

                inTime = await answered.Task;
            }
            else
            {
                try
                {
                    await answered.Task.WaitAsync(time.GetElapsedTime(0, delay), time);
                    inTime = true;
                }
                catch (TimeoutException)
                {
                    inTime = false;
                }
            }

            var hedge = true;
            if (!inTime && delay == _hedgeDelay)
            {
                // Those asked first kept the round waiting: the ones still silent are asked last for a while.
                for (var i = 0; i < first; i++)
                {
                    if (!round.HasAnswered(order[i]))
                    {
                        targets.Troubled(order[i]);
                    }
                }
            }
            else if (!inTime)
            {
                // The operation's deadline came before the hedge delay: nothing asked now could still count.
                hedge = false;
            }

            if (hedge && round.Ok < needed)
            {
                ReplicationMetrics.HedgedRounds.Add(1);
                for (var i = first; i < order.Length; i++)
                {
                    _ = SendAsync(round, order[i], request, null);
                }
            }
        }

        if (!round.Done.IsCompleted)
        {
            var remaining = Math.Min(_roundTimeout - (time.GetTimestamp() - started), Math.Max(0, deadline - time.GetTimestamp()));
            try
            {
                await round.Done.WaitAsync(time.GetElapsedTime(0, Math.Max(0, remaining)), time);
            }
            catch (TimeoutException)
            {
                round.TimedOut = true;
            }
        }

        var sealedRound = round.Seal();
        var ok = sealedRound.Ok >= needed;
        ReplicationMetrics.RecordRound(time.GetElapsedTime(started).TotalMilliseconds, ok, request);
        if (!ok)
        {
            ReplicationMetrics.FailedRounds.Add(1);
        }

        return sealedRound;
    }

    private async Task SendAsync(RoundOutcome round, ReplicaId member, ReplicaRequest request, TaskCompletionSource<bool>? answered)
    {
        ReplicaReply? reply;
        try
        {
            reply = await transport.SendAsync(member, request, CancellationToken.None);
        }
        catch (Exception)
        {
            reply = null;
        }

        round.Record(member, reply);
        if (reply is not { Status: ReplicaStatus.Ok or ReplicaStatus.Rejected })
        {
            targets.Troubled(member);
        }

        // Anything but yes from a member asked first has the others asked now, not after the hedge delay.
        if (reply is not { Status: ReplicaStatus.Ok } || round.Done.IsCompleted)
        {
            answered?.TrySetResult(true);
        }

        if (reply is { Status: ReplicaStatus.EpochMismatch } && reply.Epoch < request.Epoch && configuration.Current is { } config && config.Epoch == request.Epoch)
        {
            try
            {
                await transport.AdoptAsync(member, config, CancellationToken.None);
            }
            catch (Exception)
            {
                // A hint only: the replica also learns the configuration from the configuration master.
            }
        }
    }
}
