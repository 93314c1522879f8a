using Coordination.Grains.Hosting;
using Coordination.Grains.Leases;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Grains.Sessions;

/// <summary>
/// The end of a session, after its base register says Expired or Closed: every shard is marked ended (it
/// attaches nothing more), every lock and election attached there is told (retrying until each has taken it),
/// the told requests are let go, each emptied shard is deleted, and last, after <c>retention</c> (so late callers
/// still hear why it ended), the base register itself. This is how a session's end reaches everything it holds
/// (see <see cref="SessionAttachments{TQueue}"/>); what it leaves is nothing.
/// </summary>
internal sealed partial class SessionEnding(string sessionId, IGrainFactory grains, IRegister<SessionRecord> session, SessionHoldings holdings, TimeSpan retention, TimeProvider time, ILogger logger)
{
    private const int ParallelTells = 32;
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once everything the session held has been told and let go (before the record's retention).</summary>
    public Task Released => _released.Task;

    /// <summary>Runs until the session's registers are all deleted; failures (no majority, an unreachable grain) are retried with backoff.</summary>
    public async Task RunAsync()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(50), MaxRetryDelay);
        while (true)
        {
            try
            {
                var record = await session.ExecuteAsync((s, _) => (s, s));
                if (record is null || record.IsAlive)
                {
                    _released.TrySetResult();
                    return;
                }

                var done = true;
                foreach (var shard in record.Shards)
                {
                    done &= await EndShardAsync(shard, record.Status);
                }

                if (done)
                {
                    _released.TrySetResult();
                    await Task.Delay(retention, time);
                    if (await session.ExecuteAsync((s, _) => (SessionStateMachine.DeleteIfDone(s), SessionStateMachine.DeleteIfDone(s) is null)))
                    {
                        return;
                    }
                }
            }
            catch (Exception ex)
            {
                LogEndDeferred(logger, ex, SessionIds.Tag(sessionId));
            }

            await backoff.DelayAsync(time);
        }
    }

    /// <summary>Ends one shard: mark it, tell what it holds, let the told go; true once the shard is deleted.</summary>
    private async Task<bool> EndShardAsync(int number, SessionStatus how)
    {
        var shard = holdings.Shard(number);
        var attached = await shard.ExecuteAsync((s, _) =>
        {
            var ended = SessionShards.MarkEnded(s);
            return (ended, ended.Attached);
        });
        var told = new List<Attachment>();
        foreach (var batch in attached.GroupBy(a => a.Holding).Chunk(ParallelTells))
        {
            var results = await Task.WhenAll(batch.Select(async g => (Attachments: g.ToList(), Told: await TellAsync(g.Key, how))));
            told.AddRange(results.Where(r => r.Told).SelectMany(r => r.Attachments));
        }

        var remaining = await shard.ExecuteAsync((s, _) =>
        {
            var next = SessionShards.Told(s, told);
            return (next, next);
        });
        if (remaining is not null)
        {
            return false;
        }

        await session.ExecuteAsync((s, _) => (SessionStateMachine.ShardGone(s, number), true));
        return true;
    }

    private async Task<bool> TellAsync(Holding holding, SessionStatus how)
    {
        try
        {
            await (holding.Kind switch
            {
                HoldingKind.Lock => grains.Reference<ILockGrainInternal>(holding.Name).OnSessionEnded(sessionId, how),
                HoldingKind.Election => grains.Reference<IElectionGrainInternal>(holding.Name).OnSessionEnded(sessionId, how),
                HoldingKind.Semaphore => grains.Reference<ISemaphoreGrainInternal>(holding.Name).OnSessionEnded(sessionId, how),
                HoldingKind.ReaderWriterLock => grains.Reference<IReaderWriterLockGrainInternal>(holding.Name).OnSessionEnded(sessionId, how),
                HoldingKind.Value => grains.Reference<Values.IValueGrainInternal>(holding.Name).OnSessionEnded(sessionId, how),
                _ => Task.CompletedTask,
            });
            return true;
        }
        catch (Exception ex)
        {
            LogTellFailed(logger, ex, SessionIds.Tag(sessionId), holding.ToString());
            return false;
        }
    }

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "Session {Session}: ending it deferred (no majority yet); retrying")]
    private static partial void LogEndDeferred(ILogger logger, Exception exception, string session);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Session {Session}: could not tell {Holding} that the session ended; retrying")]
    private static partial void LogTellFailed(ILogger logger, Exception exception, string session, string holding);
}
