using System.Diagnostics;
using Coordination.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

/// <summary>A client session on fake time, with no grains behind it: for the client's loops against scripted replies.</summary>
internal sealed class ClientOnFakeTime
{
    public ClientOnFakeTime(CoordinationClientOptions options, ClientMetrics? metrics = null)
    {
        Options = options;
        Changes = new ClusterChangeSignal(Time);
        var info = new SessionInfo("session", "tag", TimeSpan.FromHours(1), SessionStatus.Alive, 0);
        Session = new CoordinationSession(null!, info, ClockReading.Now(Time), options, Time, NullLogger.Instance, Changes, ClientFaults.None, metrics: metrics);
    }

    public CoordinationClientOptions Options { get; }

    public FakeTimeProvider Time { get; } = new();

    public ClusterChangeSignal Changes { get; }

    public CoordinationSession Session { get; }

    /// <summary>
    /// Advances fake time a tenth of a retry delay at a time until <paramref name="done"/>; fails after 30 s of real
    /// time (ten seconds of fake time take about five here). Continuations of what fake time completes may run on the
    /// thread pool a step or two later, so a time measured after <paramref name="done"/> may be that much late.
    /// </summary>
    public async Task AdvanceUntilAsync(Func<bool> done, string expectation)
    {
        var started = Stopwatch.GetTimestamp();
        while (!done())
        {
            Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30), $"Expected within 30 s: {expectation}.");
            Time.Advance(Options.RetryDelay / 10);
            await Task.Delay(TimeSpan.FromMilliseconds(1), TimeProvider.System);
        }
    }
}
