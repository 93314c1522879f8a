using Coordination.Grains.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Coordination.Grains.Sessions;

/// <summary>Opens sessions: validates the TTL against the cluster's bounds and picks a 128-bit random id.</summary>
[StatelessWorker]
internal sealed class SessionManagerGrain(IOptions<CoordinationOptions> options) : Grain, ISessionManagerGrain
{
    public Task<SessionInfo> Open(TimeSpan ttl)
    {
        options.Value.ValidateTtl(ttl);
        return GrainFactory.GetGrain<ISessionGrainInternal>(SessionIds.NewId()).Open(ttl);
    }
}
