using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Coordination.TestKit;

/// <summary>A logger provider that keeps every entry at warning or above, for tests that assert a quiet log.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _entries = new();

    /// <summary>Warnings, errors and critical entries: "Level Category: message (exception)".</summary>
    public IReadOnlyCollection<string> Entries => _entries;

    /// <summary>Errors and critical entries only.</summary>
    public IReadOnlyList<string> Errors => [.. _entries.Where(e => e.StartsWith(nameof(LogLevel.Error), StringComparison.Ordinal) || e.StartsWith(nameof(LogLevel.Critical), StringComparison.Ordinal))];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner._entries.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : $" ({exception.GetType().Name}: {exception.Message})")}");
            }
        }
    }
}
