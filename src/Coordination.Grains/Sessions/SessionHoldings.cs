using Coordination.Grains.Hosting;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;

namespace Coordination.Grains.Sessions;

/// <summary>
/// What a session holds, spread over its shard registers (<see cref="SessionShard"/>), as its grain serves it:
/// attach, let go, check. A keepalive never touches these; an attach or detach rewrites one shard.
/// </summary>
/// <remarks>
/// A shard is created only after the base register, alive, recorded its number (so the session's end finds
/// every shard), and the creation commits under the promise the shard's register held when it found the shard
/// absent: if the end marked the shard in between, that promise is gone and the attach starts over, finds the
/// shard ended and is refused. An existing shard orders attaches against the end by itself.
/// </remarks>
internal sealed class SessionHoldings(string sessionId, RegisterFactory registers, IRegister<SessionRecord> session)
{
    private const int MaxAttempts = 8;
    private readonly Dictionary<int, IRegister<SessionShard>> _shards = [];

    /// <summary>What the base register last said: the TTL, the shards that may exist and the client's settled-through mark.</summary>
    public SessionRecord? Known { get; set; }

    /// <summary>Requests this activation last saw attached, over the shards it has read.</summary>
    public int Count => _shards.Values.Sum(r => r.CachedValue?.Attached.Count ?? 0);

    public IRegister<SessionShard> Shard(int shard)
    {
        if (!_shards.TryGetValue(shard, out var register))
        {
            register = registers.Create<SessionShard>(RegisterKeys.SessionShard(sessionId, shard));
            _shards[shard] = register;
        }

        return register;
    }

    /// <summary>
    /// Attaches (holding, sequence) and returns the session's TTL with the highest number the shard knows attached or
    /// settled after the attach; typed errors for an ended or missing session, a settled request or a full shard.
    /// </summary>
    /// <param name="finished">Requests at the same holding that are over there, let go in the same round.</param>
    public async Task<CoverAttach> AttachAsync(Holding holding, long sequence, long settledThrough, IReadOnlyCollection<long> finished)
    {
        var number = SessionShards.Of(holding);
        var shard = Shard(number);
        for (var attempt = 1; ; attempt++)
        {
            var view = await shard.PeekAsync();
            var creating = view.Value is null;
            if (creating || Known is not { } known || !known.Shards.Contains(number))
            {
                known = await session.ExecuteAsync((s, _) =>
                {
                    var next = SessionStateMachine.UseShard(s, sessionId, number);
                    return (next, next);
                });
                Known = known;
            }
            else if (known.Revoked is { } why)
            {
                // Revoked here since the shard was first used: nothing new is attached (what is attached stays until the session ends).
                throw SessionStateMachine.RevokedError(sessionId, why);
            }

            var mark = Math.Max(settledThrough, known.SettledThrough);
            var high = await shard.ExecuteAsync((s, context) =>
            {
                // A shard that vanished, or one created under another promise than the one this attach read it
                // absent with, may have been marked by the session's end in between: start over and look again.
                if ((s is null && !creating) || (creating && context.Generation != view.Generation))
                {
                    return (s, (long?)null);
                }

                var next = SessionShards.Attach(s, sessionId, holding, sequence, mark);
                foreach (var done in finished.Where(n => n != sequence))
                {
                    next = SessionShards.Detach(next, holding, done)!;
                }

                return (next, SessionShards.HighestKnown(next));
            });
            if (high is { } highest)
            {
                return new CoverAttach(known.Ttl, highest);
            }

            if (attempt >= MaxAttempts)
            {
                throw new QuorumUnavailableException(RegisterKeys.SessionShard(sessionId, number), 0, 0, "the session's shard kept changing while a request was being attached; retry");
            }
        }
    }

    /// <summary>Lets (holding, sequence) go; nothing is created for a session that is gone.</summary>
    public Task DetachAsync(Holding holding, long sequence) =>
        Shard(SessionShards.Of(holding)).ExecuteAsync((s, _) => (SessionShards.Detach(s, holding, sequence), true));

    /// <summary>Lets (holding, sequence) go and raises the shard's mark to <paramref name="settledThrough"/>; nothing is created for a session that is gone.</summary>
    public Task SettleAsync(Holding holding, long sequence, long settledThrough) =>
        Shard(SessionShards.Of(holding)).ExecuteAsync((s, _) => (SessionShards.Settle(s, holding, sequence, settledThrough), true));

    /// <summary>Lets many requests go: one change per shard they fall in, the shards' rounds in parallel; returns those whose shard failed.</summary>
    public async Task<Attachment[]> DetachManyAsync(IReadOnlyCollection<Attachment> attachments)
    {
        var shards = attachments.GroupBy(a => SessionShards.Of(a.Holding)).ToList();
        var changes = shards.Select(shard => Shard(shard.Key).ExecuteAsync((s, _) =>
        {
            foreach (var a in shard)
            {
                s = SessionShards.Detach(s, a.Holding, a.Sequence);
            }

            return (s, true);
        })).ToList();
        try
        {
            await Task.WhenAll(changes);
        }
        catch (Exception)
        {
            // One shard without a majority must not hold back the others: each failed one is returned below.
        }

        return [.. shards.Where((_, i) => !changes[i].IsCompletedSuccessfully).SelectMany(shard => shard)];
    }

    /// <summary>
    /// Whether (holding, sequence) is attached, read through a majority; throws <see cref="SessionExpiredException"/>
    /// once the session's end has reached its shard, <see cref="SessionNotFoundException"/> when the session is gone.
    /// </summary>
    public async Task<bool> IsAttachedAsync(Holding holding, long sequence)
    {
        var shard = await Shard(SessionShards.Of(holding)).ExecuteAsync((s, _) => (s, s));
        if (shard is not null)
        {
            return shard.Ended ? throw new SessionExpiredException(sessionId, "it has ended") : shard.Attached.Contains(new Attachment(holding, sequence));
        }

        var record = await session.ExecuteAsync((s, _) => (s, s));
        SessionStateMachine.RequireAlive(record, sessionId);
        return false;
    }
}
