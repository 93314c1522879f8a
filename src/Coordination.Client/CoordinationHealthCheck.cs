using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Coordination.Client;

/// <summary>
/// The client's view of the coordination cluster, for ASP.NET Core's health endpoints (<c>AddHealthChecks().AddCoordination()</c>):
/// each check pings the client's gateway silo (<see cref="IPingGrain"/>, a call that touches no state) and looks at
/// the shared session, the one <see cref="ICoordinationClient.CreateLock"/> and its siblings acquire through.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>No client (<c>AddCoordinationClient</c> missing), a closed one (its host stopping), or no answer to the
/// ping within its timeout: the registration's failure status (unhealthy by default).</item>
/// <item>The shared session lost (its client deadline passed, or the cluster expired it) within its TTL before the
/// check: degraded, since its grants are gone. The next acquire opens another session; an idle application whose
/// session was lost longer ago is healthy again, with the loss in the description.</item>
/// <item>The shared session's keepalives late: longer since the last acknowledged one was sent than one and a half
/// keepalive intervals, or than halfway from one interval to the end of the lease the client counts, whichever is
/// less. Degraded, since the session is lost when its client deadline comes without one.</item>
/// <item>Otherwise healthy, also when no shared session is open yet.</item>
/// </list>
/// The result's data: <c>pingMilliseconds</c>, <c>grantsActive</c> (grants given and not yet ended), and with a shared
/// session <c>session</c> (its public tag), <c>sessionTtlSeconds</c> and <c>sessionRemainingSeconds</c> (on this
/// client's clock).
/// </remarks>
internal sealed class CoordinationHealthCheck(CoordinationClient? client, IGrainFactory? grains, CoordinationClientOptions options, TimeProvider time, TimeSpan pingTimeout) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (client is null || grains is null || client.IsClosed)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, client is null || grains is null ? "No coordination client: AddCoordinationClient (and an Orleans client) were not added." : "The coordination client is closed: its host is stopping.");
        }

        var data = new Dictionary<string, object> { ["grantsActive"] = client.Metrics.GrantsActive };
        var started = time.GetTimestamp();
        Task<long>? ping = null;
        try
        {
            ping = grains.GetGrain<IPingGrain>(0).Ping(started);
            await ping.WaitAsync(pingTimeout, time, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            var why = ping is { IsCompleted: false }
                ? $"did not answer a ping within {pingTimeout.TotalSeconds:0.###} s"
                : $"failed a ping ({ex.GetType().Name}: {ex.Message})";
            return new HealthCheckResult(context.Registration.FailureStatus, $"The coordination cluster {why}.", ex, data);
        }

        data["pingMilliseconds"] = time.GetElapsedTime(started).TotalMilliseconds;
        if (client.SharedSession is not { } session)
        {
            return HealthCheckResult.Healthy("The coordination cluster answers; no shared session is open yet.", data);
        }

        var remaining = session.Remaining;
        data["session"] = session.Tag;
        data["sessionTtlSeconds"] = session.Ttl.TotalSeconds;
        data["sessionRemainingSeconds"] = remaining.TotalSeconds;
        if (session.IsLost)
        {
            // Lost by its deadline but not yet told (the timer has not fired): lost just now.
            var since = session.LostTimestamp is { } at ? time.GetElapsedTime(at) : TimeSpan.Zero;
            var what = $"The shared session {session.Tag} was lost {since.TotalSeconds:0.#} s ago ({session.LostReason ?? CoordinationSession.DeadlinePassed})";
            return since <= session.Ttl
                ? HealthCheckResult.Degraded($"{what}: its grants are gone, and the next acquire opens another session.", data: data)
                : HealthCheckResult.Healthy($"The coordination cluster answers. {what}; the next acquire opens another session.", data);
        }

        // A keepalive goes out an interval after the last reply: late is past one and a half intervals, or halfway from
        // one interval to the end of the lease when that is sooner (a long interval against its TTL).
        var budget = SessionDeadline.Budget(session.Ttl, options);
        var interval = session.Ttl * options.KeepAliveFraction;
        var late = interval * 1.5;
        if (late > interval + ((budget - interval) / 2))
        {
            late = interval + ((budget - interval) / 2);
        }

        if (budget - remaining > late)
        {
            return HealthCheckResult.Degraded($"The shared session {session.Tag}'s keepalives are late: {remaining.TotalSeconds:0.#} s of its {session.Ttl.TotalSeconds:0.#} s lease are left on this client's clock, and it is lost when none is acknowledged by then.", data: data);
        }

        return HealthCheckResult.Healthy($"The coordination cluster answers, and the shared session {session.Tag} is kept alive.", data);
    }
}
