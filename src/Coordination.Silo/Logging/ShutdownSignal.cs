namespace Coordination.Silo.Logging;

/// <summary>
/// Set once the host starts stopping (Ctrl+C, SIGTERM, a stop requested in code), for the log to know that peers
/// going away is expected now. A plain flag, so the logging provider can hold it without depending on the host's
/// lifetime (which itself logs).
/// </summary>
internal sealed class ShutdownSignal
{
    private volatile bool _stopping;

    public bool Stopping => _stopping;

    public void Set() => _stopping = true;

    /// <summary>Sets the signal when the host's <see cref="IHostApplicationLifetime.ApplicationStopping"/> fires, before any service stops.</summary>
    internal sealed class Watcher(ShutdownSignal signal, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStopping.Register(signal.Set);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            signal.Set();
            return Task.CompletedTask;
        }
    }
}
