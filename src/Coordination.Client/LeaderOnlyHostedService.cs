using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordination.Client;

/// <summary>
/// Runs <typeparamref name="TService"/> only while this instance leads <see cref="Election"/>, like
/// Kubernetes leader election: campaign; once elected, create and start the service (its constructor may
/// take the <see cref="CoordinationLeadership"/>, e.g. for its term as a fencing token); stop it the moment
/// leadership is lost or the host stops; then campaign again (or resign when stopping).
/// </summary>
internal sealed partial class LeaderOnlyHostedService<TService>(
    IServiceProvider services,
    ICoordinationClient client,
    string election,
    string? value,
    ILogger<LeaderOnlyHostedService<TService>> logger) : BackgroundService
    where TService : class, IHostedService
{
    public string Election { get; } = election;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var elections = client.CreateElection(Election);
        while (!stoppingToken.IsCancellationRequested)
        {
            CoordinationLeadership leadership;
            try
            {
                leadership = await elections.CampaignAsync(value, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is CoordinationException or TimeoutException or ObjectDisposedException)
            {
                LogCampaignFailed(logger, ex, Election);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            await using (leadership)
            {
                await LeadAsync(leadership, stoppingToken);
            }
        }
    }

    private async Task LeadAsync(CoordinationLeadership leadership, CancellationToken stoppingToken)
    {
        using var leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, leadership.LeadershipLostToken);
        var service = ActivatorUtilities.CreateInstance<TService>(services, leadership);
        LogElected(logger, Election, leadership.Term, typeof(TService).Name);
        try
        {
            await service.StartAsync(leading.Token);
            await Task.Delay(Timeout.Infinite, leading.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await service.StopAsync(grace.Token);
            switch (service)
            {
                case IAsyncDisposable asyncDisposable:
                    await asyncDisposable.DisposeAsync();
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }

            LogStopped(logger, Election, leadership.Term, typeof(TService).Name, stoppingToken.IsCancellationRequested ? "the host is stopping" : "leadership was lost");
        }
    }

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Elected leader of {Election} (term {Term}): starting {Service}")]
    private static partial void LogElected(ILogger logger, string election, long term, string service);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Leadership of {Election} (term {Term}) over: stopped {Service} because {Why}")]
    private static partial void LogStopped(ILogger logger, string election, long term, string service, string why);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Campaign in {Election} failed; trying again")]
    private static partial void LogCampaignFailed(ILogger logger, Exception exception, string election);
}
