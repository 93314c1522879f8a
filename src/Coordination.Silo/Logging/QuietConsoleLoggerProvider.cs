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
/// </remarks>
[ProviderAlias("Console")]
internal sealed class QuietConsoleLoggerProvider(ILoggerProvider console, ShutdownSignal shutdown, TimeProvider time) : ILoggerProvider, ISupportExternalScope
{
    private const string Watchdog = "Orleans.Runtime.Watchdog";
    private const string StallDuration = "TimeSinceLastTick";
    private const string Silo = "Orleans.Runtime.Silo";

    /// <summary>Orleans' <c>ErrorCode.SiloGcWarning</c>: "not running with ServerGC turned on", that it needs several cores, and (the same code) that a verbose log level costs performance.</summary>
    private const int SiloGcWarning = 100405;
    private static readonly string[] ConnectionCategories = ["Orleans.Runtime.Messaging", "Orleans.Messaging", "Orleans.Networking"];
    private readonly long _started = time.GetTimestamp();

    private bool Stopping => shutdown.Stopping;

    private TimeSpan Age => time.GetElapsedTime(_started);

    public ILogger CreateLogger(string categoryName) => new Logger(console.CreateLogger(categoryName), categoryName, this);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (console as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

    public void Dispose() => console.Dispose();

    /// <summary>The rules, as a pure function of the entry, whether the host is stopping and how long this process has logged.</summary>
    internal static ConsoleVerdict Judge(string category, LogLevel level, EventId eventId, object? state, bool stopping, TimeSpan age)
    {
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

        if (stopping && level < LogLevel.Critical && ConnectionCategories.Any(c => category.StartsWith(c, StringComparison.Ordinal)))
        {
            return level >= LogLevel.Error ? ConsoleVerdict.WriteWithoutStackTrace : ConsoleVerdict.Drop;
        }

        return ConsoleVerdict.Write;
    }

    private static string? OriginalFormat(object? state) =>
        state is IReadOnlyList<KeyValuePair<string, object?>> fields ? fields.FirstOrDefault(f => f.Key == "{OriginalFormat}").Value as string : null;

    private sealed class Logger(ILogger console, string category, QuietConsoleLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => console.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => console.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            switch (Judge(category, logLevel, eventId, state, owner.Stopping, owner.Age))
            {
                case ConsoleVerdict.Drop:
                    return;
                case ConsoleVerdict.WriteWithoutStackTrace when exception is not null:
                    console.Log(logLevel, eventId, state, null, (s, _) => $"{formatter(s, exception)} ({exception.GetType().Name}: {exception.Message}; the host is stopping)");
                    return;
                default:
                    console.Log(logLevel, eventId, state, exception, formatter);
                    return;
            }
        }
    }
}
