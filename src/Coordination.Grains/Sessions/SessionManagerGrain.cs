using Coordination.Grains.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Coordination.Grains.Sessions;

/// <summary>Opens sessions: validates the TTL against the cluster's bounds and picks a 128-bit random id.</summary>
[StatelessWorker]
internal sealed class SessionManagerGrain(IOptions<CoordinationOptions> options) : Grain, ISessionManagerGrain
{
    public Task<SessionInfo> Open(TimeSpan ttl, string? owner = null)
    {
        options.Value.ValidateTtl(ttl);
        if (owner is not null && Names.Check(owner) is { } problem)
        {
            throw new CoordinationArgumentException(nameof(owner), problem.Replace("a name", "a session's owner", StringComparison.Ordinal));
        }

        return GrainFactory.Reference<ISessionGrainInternal>(SessionIds.NewId()).Open(ttl, owner);
    }
}
