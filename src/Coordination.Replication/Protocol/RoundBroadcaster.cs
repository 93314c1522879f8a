using Coordination.Replication.Configuration;

namespace Coordination.Replication.Protocol;

/// <summary>
/// Runs one round of either phase: sends the request to every configured member at once and waits until a
/// majority said yes or is out of reach, the round timeout passed or the operation's deadline came. Records
/// the round in <see cref="ReplicationMetrics"/>.
/// </summary>
internal sealed class RoundBroadcaster(IReplicaTransport transport, TimeProvider time, TimeSpan roundTimeout, ProposerConfiguration configuration)
{
    private readonly long _roundTimeout = (long)(roundTimeout.TotalSeconds * time.TimestampFrequency);

    /// <summary>The round's replies, sealed: a reply that arrives later no longer counts.</summary>
    public async Task<RoundOutcome> RunAsync(PartitionConfiguration config, Func<ReplicaId, ReplicaRequest> request, long deadline, int needed)
    {
        var started = time.GetTimestamp();
        var round = new RoundOutcome(config, needed);
        foreach (var member in config.Members)
        {
            _ = SendAsync(round, member.Id, request(member.Id));
        }

        if (!round.Done.IsCompleted)
        {
            var remaining = Math.Min(_roundTimeout, Math.Max(0, deadline - time.GetTimestamp()));
            try
            {
                await round.Done.WaitAsync(time.GetElapsedTime(0, remaining), time);
            }
            catch (TimeoutException)
            {
                round.TimedOut = true;
            }
        }

        var sealedRound = round.Seal();
        var ok = sealedRound.Ok >= needed;
        ReplicationMetrics.RoundDuration.Record(time.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("outcome", ok ? "majority" : "failed"));
        if (!ok)
        {
            ReplicationMetrics.FailedRounds.Add(1);
        }

        return sealedRound;
    }

    private async Task SendAsync(RoundOutcome round, ReplicaId member, ReplicaRequest request)
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
