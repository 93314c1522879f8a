namespace Coordination.Silo.Logging;

/// <summary>
/// Set once the host starts stopping (Ctrl+C, SIGTERM, a stop requested in code), for the log to know that peers
/// going away is expected now; and once the silo learns that the cluster declared it dead, after which the runtime's
/// complaints (timers it missed while paused, peers that no longer answer it) no longer matter. Plain flags, so the
/// logging provider can hold them without depending on the host's lifetime (which itself logs).
/// </summary>
internal sealed class ShutdownSignal
{
    private volatile bool _stopping;
    private volatile bool _dead;

    public bool Stopping => _stopping;

    /// <summary>The cluster declared this silo dead: the process is about to end (see <c>SiloDeath</c>).</summary>
    public bool Dead => _dead;

    public void Set() => _stopping = true;

    public void SetDead() => _dead = true;

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
