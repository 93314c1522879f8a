using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging;

namespace Coordination.Membership.Hosting;

/// <summary>
/// Acts on the node's changes: counts and logs suspicions and refutations, hands every death this silo
/// declared (with enough independent votes, from the majority side) to Orleans through
/// <see cref="IClusterMembershipService.TryKill"/>, so directory and placement react at once, and stops
/// this silo when the group declared it dead.
/// </summary>
internal sealed partial class DeathHandoff(MemberId self, IClusterMembershipService membership, IFatalErrorHandler fatal, ProbeOptions options, TimeProvider time, ILogger logger, CancellationToken stopping)
{
    private long _suspicionsRaised;
    private long _deathsDeclared;

    public long SuspicionsRaised => Interlocked.Read(ref _suspicionsRaised);

    public long DeathsDeclared => Interlocked.Read(ref _deathsDeclared);

    /// <summary>The stop of this silo once the group declared it dead (for tests): done when the handler was called or the silo stopped first.</summary>
    internal Task SelfStop { get; private set; } = Task.CompletedTask;

    public void Handle(MemberChange change)
    {
        switch (change.Now.Status)
        {
            case MemberStatus.Suspect when change.Member != self:
                Interlocked.Increment(ref _suspicionsRaised);
                MembershipMetrics.Suspicions.Add(1);
                LogSuspected(logger, change.Member.Value, change.Now.Incarnation);
                break;
            case MemberStatus.Alive when change.Was == MemberStatus.Suspect:
                LogRefuted(logger, change.Member.Value, change.Now.Incarnation);
                break;
            case MemberStatus.Dead when change.Member == self:
                LogSelfDead(logger, self.Value);
                SelfStop = StopAsDeadAsync();
                break;
            case MemberStatus.Dead when change.DeclaredHere:
                Interlocked.Increment(ref _deathsDeclared);
                MembershipMetrics.Deaths.Add(1);
                _ = KillAsync(change.Member);
                break;
        }
    }

    /// <summary>
    /// The group declared this silo dead (it was paused or cut off past its suspicion): it must never come
    /// back as the same member. Orleans stops a silo that reads its own death in the table, so make it read
    /// now; if it still runs after the grace period (the membership table did not answer), stop it the way Orleans
    /// would: through the silo's fatal-error handler (Orleans' fails the process fast; a test cluster's stops that silo).
    /// </summary>
    private async Task StopAsDeadAsync()
    {
        try
        {
            await membership.Refresh();
            await Task.Delay(options.DeadSiloGrace, time, stopping);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception ex)
        {
            LogKillFailed(logger, ex, self.Value);
        }

        if (!stopping.IsCancellationRequested)
        {
            fatal.OnFatalException(this, $"The probe group declared this silo ({self.Value}) dead and Orleans did not stop it within {options.DeadSiloGrace}");
        }
    }

    private async Task KillAsync(MemberId member)
    {
        var silo = SiloAddress.FromParsableString(member.Value);
        try
        {
            if (membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Dead)
            {
                return;
            }

            LogDeclared(logger, member.Value);
            await membership.TryKill(silo);
        }
        catch (Exception ex)
        {
            LogKillFailed(logger, ex, member.Value);
        }
    }

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Suspecting {Silo} (incarnation {Incarnation})")]
    private static partial void LogSuspected(ILogger logger, string silo, long incarnation);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "{Silo} refuted its suspicion (incarnation {Incarnation})")]
    private static partial void LogRefuted(ILogger logger, string silo, long incarnation);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Probes declared {Silo} dead (independent votes, majority side): handing it to Orleans")]
    private static partial void LogDeclared(ILogger logger, string silo);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "The probe group declared this silo ({Self}) dead; Orleans will stop it")]
    private static partial void LogSelfDead(ILogger logger, string self);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Handing the death of {Silo} to Orleans failed")]
    private static partial void LogKillFailed(ILogger logger, Exception exception, string silo);
}
