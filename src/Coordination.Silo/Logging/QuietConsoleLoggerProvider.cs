using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Coordination.Silo.Logging;

/// <summary>What the console does with one entry.</summary>
internal enum ConsoleVerdict
{
    Write = 0,

    /// <summary>Not written: it only looks alarming.</summary>
    Drop = 1,

    /// <summary>Written as one line, with the exception's message but not its stack trace.</summary>
    WriteWithoutStackTrace = 2,
}

/// <summary>
/// The console, minus the entries that only look alarming: Orleans' watchdog reporting a stall longer than this
/// process has lived, its advice to turn on server GC, and connection errors while the host is stopping.
/// </summary>
/// <remarks>
/// Orleans 10.4.2's watchdog starts its platform thread before it sets the component thread's first timestamp, so its
/// first check can measure from timestamp zero and warn that the participant check "has not completed for" the
/// machine's uptime (a "28-minute stall" at start-up). A stall longer than the process's life is that race, never a
/// stall; shorter ones are written as they come. Every silo start warned twice that the silo does not run server GC,
/// "recommend checking app config": the silo host runs workstation GC on purpose (its runtimeconfig; measured beside
/// 100,000 held locks, see the README), so the advice is dropped, not the choice. At Ctrl+C every silo and client of the local cluster stops at once,
/// and each sees its peers' connections close: expected, so written without stack traces (errors) or not at all (warnings).
/// So is what the stop itself causes: a cancelled start (one line), an object already disposed (left out).
/// At any time, a connection's network error is written without its stack trace, and Orleans' warnings that repeat
/// themselves for one stall of the process (a late timer each, the watchdog's) at most once per 30 s each, with the count
/// of those left out.
/// A silo that reads its own death in Orleans' table ends within milliseconds with one critical line of its own
/// (<c>SiloDeath</c>); from that moment Orleans' entries below critical are dropped: the runtime restates the death
/// twice, and woken from a pause it warns of every timer it missed.
/// </remarks>
[ProviderAlias("Console")]
internal sealed class QuietConsoleLoggerProvider(ILoggerProvider console, ShutdownSignal shutdown, TimeProvider time) : ILoggerProvider, ISupportExternalScope
{
    private const string Watchdog = "Orleans.Runtime.Watchdog";
    private const string StallDuration = "TimeSinceLastTick";
    private const string Silo = "Orleans.Runtime.Silo";

    /// <summary>Orleans' <c>ErrorCode.SiloGcWarning</c>: "not running with ServerGC turned on", that it needs several cores, and (the same code) that a verbose log level costs performance.</summary>
    private const int SiloGcWarning = 100405;
    private static readonly string[] ConnectionCategories = ["Orleans.Runtime.Messaging", "Orleans.Messaging", "Orleans.Networking", TlsHandshakes];

    /// <summary>Orleans' TLS middleware: it warns of every failed handshake (a client without the cluster's certificate, a port scanner).</summary>
    private const string TlsHandshakes = "Orleans.Connections.Security";

    /// <summary>Its side that connects out (to other silos): a failure there is this silo's certificate or a peer's, kept apart from strangers'.</summary>
    private const string TlsOutbound = "Orleans.Connections.Security.TlsClientConnectionMiddleware";
    private const string Orleans = "Orleans.";
    private const string AsyncTimers = "Orleans.Runtime.AsyncTimer";

    /// <summary>Orleans' <c>ErrorCode.SiloHeartbeatTimerStalled</c>: the watchdog's "platform stalled for" and "participant check thread has not completed for".</summary>
    private const int WatchdogStalled = 100150;

    /// <summary>At most one entry of each kind of <see cref="Repetitive"/> is written per this interval.</summary>
    internal static readonly TimeSpan RepetitiveInterval = TimeSpan.FromSeconds(30);

    private readonly LogThrottle _lateTimers = new(RepetitiveInterval, time);
    private readonly LogThrottle _stalls = new(RepetitiveInterval, time);
    private readonly LogThrottle _handshakes = new(RepetitiveInterval, time);
    private readonly LogThrottle _outboundHandshakes = new(RepetitiveInterval, time);
    private const string OrleansMembership = "Orleans.Runtime.MembershipService.MembershipTableManager";

    /// <summary>Orleans' <c>ErrorCode.MembershipFoundMyselfDead1</c> ("I should be Dead according to the membership table") and <c>MembershipKillMyselfLocally</c> ("I have been told I am dead").</summary>
    private static readonly int[] OrleansFoundItselfDead = [100617, 100627];
    private readonly long _started = time.GetTimestamp();

    private bool Stopping => shutdown.Stopping;

    private bool Dead => shutdown.Dead;

    private void MarkDead() => shutdown.SetDead();

    private TimeSpan Age => time.GetElapsedTime(_started);

    public ILogger CreateLogger(string categoryName) => new Logger(console.CreateLogger(categoryName), categoryName, this);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (console as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

    public void Dispose() => console.Dispose();

    /// <summary>
    /// Whether the entry is Orleans reading this silo's death in its table, which ends the process within milliseconds
    /// (from then on <see cref="Judge"/> runs with <c>dead</c> set). Our probes' own "declared this silo dead" is not:
    /// Orleans may take its grace period to act on it, and its entries meanwhile say why.
    /// </summary>
    internal static bool TellsOfOwnDeath(string category, EventId eventId) =>
        category == OrleansMembership && OrleansFoundItselfDead.Contains(eventId.Id);

    /// <summary>The rules, as a pure function of the entry (its exception included), whether the host is stopping, whether the silo was declared dead and how long this process has logged.</summary>
    internal static ConsoleVerdict Judge(string category, LogLevel level, EventId eventId, object? state, Exception? exception, bool stopping, bool dead, TimeSpan age)
    {
        if (dead && level < LogLevel.Critical && category.StartsWith(Orleans, StringComparison.Ordinal))
        {
            return ConsoleVerdict.Drop;
        }

        // The code also marks Orleans' warning that a verbose log level costs performance, which stays.
        if (category == Silo && eventId.Id == SiloGcWarning && level < LogLevel.Error && OriginalFormat(state)?.Contains("ServerGC", StringComparison.Ordinal) == true)
        {
            return ConsoleVerdict.Drop;
        }

        if (category == Watchdog && state is IReadOnlyList<KeyValuePair<string, object?>> fields
            && fields.FirstOrDefault(f => f.Key == StallDuration).Value is TimeSpan stall && stall > age)
        {
            return ConsoleVerdict.Drop;
        }

        var connection = ConnectionCategories.Any(c => category.StartsWith(c, StringComparison.Ordinal));
        if (stopping && level < LogLevel.Critical)
        {
            // What the stop itself causes (Ctrl+C while a silo is still starting cancels its start, and every component
            // says so): peers' connections closing, peers stopping too and a cancelled start as one line without the
            // stack trace; an object already disposed (the runtime's loops that run on until the end, some every 200 ms)
            // not at all.
            if (exception is ObjectDisposedException)
            {
                return ConsoleVerdict.Drop;
            }

            if (connection || exception is OperationCanceledException or OrleansLifecycleCanceledException or SiloUnavailableException)
            {
                return level >= LogLevel.Error ? ConsoleVerdict.WriteWithoutStackTrace : ConsoleVerdict.Drop;
            }
        }

        // A connection's network error (reset, refused): its stack trace says nothing the message does not.
        // A failed TLS handshake, whatever its exception (refused, cut off, timed out): the message says it all.
        return connection && (category.StartsWith(TlsHandshakes, StringComparison.Ordinal) || exception is SocketException or ConnectionResetException or IOException { InnerException: SocketException })
            ? ConsoleVerdict.WriteWithoutStackTrace
            : ConsoleVerdict.Write;
    }

    /// <summary>
    /// Orleans' warnings that say the same thing many times for one stall of the process: each of its timers that fired
    /// late (a pause of a few seconds makes five within milliseconds), and the watchdog's stall reports. Each kind is
    /// written at most once per <see cref="RepetitiveInterval"/>; the watchdog's other complaints and the local-health
    /// monitor's (which Orleans itself limits) are not among them.
    /// </summary>
    internal static Repetitive Repetitiveness(string category, LogLevel level, EventId eventId) => level != LogLevel.Warning ? Repetitive.No : category switch
    {
        _ when category.StartsWith(AsyncTimers, StringComparison.Ordinal) => Repetitive.LateTimer,
        Watchdog when eventId.Id == WatchdogStalled => Repetitive.Stall,
        _ when category.StartsWith(TlsOutbound, StringComparison.Ordinal) => Repetitive.OutboundHandshake,
        _ when category.StartsWith(TlsHandshakes, StringComparison.Ordinal) => Repetitive.Handshake,
        _ => Repetitive.No,
    };

    private static string? OriginalFormat(object? state) =>
        state is IReadOnlyList<KeyValuePair<string, object?>> fields ? fields.FirstOrDefault(f => f.Key == "{OriginalFormat}").Value as string : null;

    private sealed class Logger(ILogger console, string category, QuietConsoleLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => console.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => console.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (TellsOfOwnDeath(category, eventId))
            {
                owner.MarkDead();
            }

            var verdict = Judge(category, logLevel, eventId, state, exception, owner.Stopping, owner.Dead, owner.Age);
            if (verdict == ConsoleVerdict.Drop)
            {
                return;
            }

            var heldBack = 0;
            var throttle = Repetitiveness(category, logLevel, eventId) switch
            {
                Repetitive.LateTimer => owner._lateTimers,
                Repetitive.Stall => owner._stalls,
                Repetitive.Handshake => owner._handshakes,
                Repetitive.OutboundHandshake => owner._outboundHandshakes,
                _ => null,
            };
            if (throttle is not null && !throttle.TryEnter(out heldBack))
            {
                return;
            }

            var note = heldBack == 0 ? null : $" ({heldBack} more like it left out since the last one written; at most one per {RepetitiveInterval.TotalSeconds:0} s)";
            if (exception is not null && verdict == ConsoleVerdict.WriteWithoutStackTrace)
            {
                var when = owner.Stopping ? "; the host is stopping" : string.Empty;
                console.Log(logLevel, eventId, state, null, (s, _) => $"{formatter(s, exception)} ({exception.GetType().Name}: {exception.Message}{when}){note}");
                return;
            }

            console.Log(logLevel, eventId, state, exception, note is null ? formatter : (s, e) => formatter(s, e) + note);
        }
    }
}

/// <summary>Kinds of entries that repeat themselves (see <see cref="QuietConsoleLoggerProvider.Repetitiveness"/>).</summary>
internal enum Repetitive
{
    No = 0,
    LateTimer = 1,
    Stall = 2,

    /// <summary>A failed TLS handshake on a silo's or gateway's port.</summary>
    Handshake = 3,

    /// <summary>A failed TLS handshake of this silo's own connection to another silo.</summary>
    OutboundHandshake = 4,
}
