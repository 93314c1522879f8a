using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>The leader-only services of a host, so the client can stop them (and resign) before it closes its session.</summary>
internal sealed class LeaderServices
{
    private readonly ConcurrentDictionary<ILeaderService, byte> _services = new();

    public void Add(ILeaderService service) => _services.TryAdd(service, 0);

    /// <summary>Stops every leader-only service and resigns its leadership.</summary>
    public Task StopAllAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_services.Keys.Select(s => s.StopLeadingAsync(cancellationToken)));
}

internal interface ILeaderService
{
    Task StopLeadingAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Runs <typeparamref name="TService"/> only while this instance leads <see cref="Election"/>, like
/// Kubernetes leader election: campaign; once elected, create and start the service (its constructor may
/// take the <see cref="CoordinationLeadership"/>, e.g. for its term as a fencing token); stop it the moment
/// leadership is lost, the host stops, or the service's own work ends or fails; resign once it has
/// stopped; then campaign again (or, as <see cref="LeaderServiceOptions"/> say for a term that ended on its own,
/// stop leading or stop the host). A new run never starts before the previous one has finished.
/// </summary>
internal sealed partial class LeaderOnlyHostedService<TService> : BackgroundService, ILeaderService
    where TService : class, IHostedService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SlowStopWarning = TimeSpan.FromSeconds(30);
    private readonly IServiceProvider _services;
    private readonly ICoordinationClient _client;
    private readonly string? _value;
    private readonly TimeProvider _time;
    private readonly LeaderServiceOptions _options;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();

    public LeaderOnlyHostedService(IServiceProvider services, ICoordinationClient client, LeaderServices registry, string election, string? value, TimeProvider time, LeaderServiceOptions options, ILogger<LeaderOnlyHostedService<TService>> logger, IHostApplicationLifetime? lifetime = null)
    {
        _services = services;
        _client = client;
        _value = value;
        _time = time;
        _options = options;
        _lifetime = lifetime;
        _logger = logger;
        Election = election;
        registry.Add(this);
    }

    public string Election { get; }

    public async Task StopLeadingAsync(CancellationToken cancellationToken)
    {
        await _shutdown.CancelAsync();
        if (ExecuteTask is { } running)
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _shutdown.CancelAsync();
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _shutdown.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _shutdown.Token);
        var elections = _client.CreateElection(Election);
        while (!stop.IsCancellationRequested)
        {
            CoordinationLeadership leadership;
            try
            {
                leadership = await elections.CampaignAsync(_value, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogCampaignFailed(_logger, ex, Election);
                await Task.Delay(RetryDelay, _time, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            var failed = false;
            var lost = false;
            try
            {
                failed = !await LeadAsync(leadership, stop.Token);
                lost = leadership.IsLost;
            }
            finally
            {
                // Resign only now that the service has stopped, so the next leader never overlaps this one. A resignation
                // the cluster refuses for good is logged, not let out: it would stop the whole host. The leadership then
                // ends with the session, or when revoked.
                try
                {
                    await leadership.DisposeAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogResignFailed(_logger, ex, Election, leadership.Term);
                    failed = true;
                }
            }

            if (!lost && !stop.IsCancellationRequested && (failed ? _options.WhenFailed : _options.WhenFinished) is var end and not LeaderServiceEnd.CampaignAgain)
            {
                LogNoMoreCampaigns(_logger, Election, typeof(TService).Name, failed ? "failed" : "finished", end);
                if (end == LeaderServiceEnd.StopHost)
                {
                    _lifetime?.StopApplication();
                }

                return;
            }

            // A term that ended on its own (the service failed, or its work finished) waits before the next campaign: a
            // one-shot job of the only candidate must not run again back to back.
            if (failed || !lost)
            {
                await Task.Delay(_options.CampaignDelay, _time, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Runs the service for one term; false if it failed (to start, to run or to stop).</summary>
    private async Task<bool> LeadAsync(CoordinationLeadership leadership, CancellationToken stop)
    {
        using var leading = CancellationTokenSource.CreateLinkedTokenSource(stop, leadership.LeadershipLostToken);
        TService? service = null;
        var ok = true;
        try
        {
            service = ActivatorUtilities.CreateInstance<TService>(_services, leadership);
            LogElected(_logger, Election, leadership.Term, typeof(TService).Name);
            await service.StartAsync(leading.Token);

            // Lead until leadership is lost or the host stops, or until the service's own work ends.
            var work = service is BackgroundService { ExecuteTask: { } task } ? task : Task.Delay(Timeout.Infinite, leading.Token);
            await Task.WhenAny(work, Task.Delay(Timeout.Infinite, leading.Token));
            if (work.IsFaulted)
            {
                LogServiceFailed(_logger, work.Exception, Election, leadership.Term, typeof(TService).Name);
                ok = false;
            }
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && leading.IsCancellationRequested))
        {
            LogServiceFailed(_logger, ex, Election, leadership.Term, typeof(TService).Name);
            ok = false;
        }
        finally
        {
            if (service is not null)
            {
                ok &= await StopAsync(service, leadership);
            }

            LogStopped(_logger, Election, leadership.Term, typeof(TService).Name, stop.IsCancellationRequested ? "this instance is stopping" : leadership.IsLost ? "leadership was lost" : "the service ended");
        }

        return ok;
    }

    /// <summary>Stops the service and waits for it to finish, however long that takes (warning when slow).</summary>
    private async Task<bool> StopAsync(TService service, CoordinationLeadership leadership)
    {
        try
        {
            try
            {
                var stopping = service.StopAsync(CancellationToken.None);
                if (await Task.WhenAny(stopping, Task.Delay(SlowStopWarning, _time)) != stopping)
                {
                    LogSlowStop(_logger, Election, leadership.Term, typeof(TService).Name, SlowStopWarning);
                }

                await stopping;
                return true;
            }
            finally
            {
                switch (service)
                {
                    case IAsyncDisposable asyncDisposable:
                        await asyncDisposable.DisposeAsync();
                        break;
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                }
            }
        }
        catch (Exception ex)
        {
            LogServiceFailed(_logger, ex, Election, leadership.Term, typeof(TService).Name);
            return false;
        }
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Elected leader of {Election} (term {Term}): starting {Service}")]
    private static partial void LogElected(ILogger logger, string election, long term, string service);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Leadership of {Election} (term {Term}) over: stopped {Service} because {Why}")]
    private static partial void LogStopped(ILogger logger, string election, long term, string service, string why);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Campaign in {Election} failed; trying again")]
    private static partial void LogCampaignFailed(ILogger logger, Exception exception, string election);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Error, Message = "{Service}, run as leader of {Election} (term {Term}), failed; it was stopped and the leadership resigned")]
    private static partial void LogServiceFailed(ILogger logger, Exception? exception, string election, long term, string service);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Information, Message = "{Service}, run as leader of {Election}, {How}; it was stopped and the leadership resigned, and this instance campaigns no more ({End})")]
    private static partial void LogNoMoreCampaigns(ILogger logger, string election, string service, string how, LeaderServiceEnd end);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Warning, Message = "Resigning the leadership of {Election} (term {Term}) failed; it ends with this instance's session, or when revoked")]
    private static partial void LogResignFailed(ILogger logger, Exception exception, string election, long term);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Warning, Message = "{Service} (leader of {Election}, term {Term}) has not stopped after {Waited}; the leadership is kept until it does")]
    private static partial void LogSlowStop(ILogger logger, string election, long term, string service, TimeSpan waited);
}
