using System.Diagnostics;
using System.Runtime.InteropServices;
using Coordination.Silo.Logging;

namespace Coordination.Silo.SiloHost;

/// <summary>
/// How a silo process of ours ends when Orleans (or our probes) call it fatal, in place of Orleans' handler. Orleans
/// 10.4.2's handler logs the error, writes it again to stderr with two stack traces (about 150 lines for a silo told
/// it is dead), sleeps 2 s in which the dead silo still runs, and fails fast, so the process ends as a crash (code
/// 134). A silo told it is dead has not crashed: it was paused or cut off past its suspicion and the others went on
/// without it. It says so in one critical line and exits at once with <see cref="SiloExitCodes.DeclaredDead"/>,
/// without a graceful stop: its partitions have moved on, and a drain would wait on a cluster that has let it go. Any
/// other fatal error is logged with its stack trace and fails fast, as Orleans' would, less the sleep.
/// </summary>
/// <remarks>
/// The console writes from a queue, so the loggers are flushed (disposed: the console's processor writes what it holds
/// and stops) before the process ends. Once dead, the console drops Orleans' own entries below critical (see
/// <see cref="ShutdownSignal.Dead"/>): a silo waking from a pause warns of every timer it missed, none of which matters
/// then. On Windows the process is killed (exit code -1); elsewhere it exits with the code through libc's <c>_exit</c>.
/// </remarks>
internal sealed partial class SiloDeath : IFatalErrorHandler
{
    private const string OrleansDeathPrefix = "Reason: ";
    private const string OrleansMembershipDump = " Membership: ";

    /// <summary>Orleans' reason when its membership bookkeeping contradicts itself (<c>MembershipTableManager</c>: "Found a bug! Will stop.").</summary>
    private const string OrleansBug = "Found a bug";

    private readonly ILogger _logger;
    private readonly ShutdownSignal _signal;
    private readonly Func<IEnumerable<ILoggerProvider>> _loggers;
    private readonly Action<int> _exit;
    private readonly Action<string, Exception> _failFast;
    private int _ending;

    public SiloDeath(ILogger<SiloDeath> logger, ShutdownSignal signal, IServiceProvider services)
        : this(logger, signal, services.GetServices<ILoggerProvider>, ExitNow, Environment.FailFast)
    {
    }

    internal SiloDeath(ILogger logger, ShutdownSignal signal, Func<IEnumerable<ILoggerProvider>> loggers, Action<int> exit, Action<string, Exception> failFast)
    {
        _logger = logger;
        _signal = signal;
        _loggers = loggers;
        _exit = exit;
        _failFast = failFast;
    }

    public bool IsUnexpected(Exception exception) => exception is not ThreadAbortException;

    /// <summary>
    /// Ends the process. Orleans 10.4.2 passes no exception only when it stops the silo on its own account: it read its
    /// own death in the membership table, found a newer copy of itself, or "found a bug" (its membership bookkeeping
    /// contradicted itself). The first two, and our probes' fallback, are a death: one line and <see
    /// cref="SiloExitCodes.DeclaredDead"/>. The bug, and every exception, are a crash: the stack trace and a fail-fast.
    /// Whatever fails on the way (a logger that throws, the exit itself), the process still ends.
    /// </summary>
    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        if (_signal.Stopping && exception is ObjectDisposedException or OperationCanceledException)
        {
            // A loop of the runtime that outlived the services it uses, while the host stops (Ctrl+C while the silo
            // was still starting): the stop is under way and ends the process; failing fast would turn it into a crash.
            Quietly(() => LogTeardown(_logger, sender?.GetType().Name ?? "unknown", exception.GetType().Name, exception.Message));
            return;
        }

        if (Interlocked.Exchange(ref _ending, 1) != 0)
        {
            // Another thread is ending the process at this moment; one line and one exit are enough.
            return;
        }

        var source = sender?.GetType().Name ?? "unknown";
        exception ??= IsDeath(context) ? null : new InvalidOperationException($"{source} stopped the silo: {context}");
        try
        {
            if (exception is null)
            {
                _signal.SetDead();
                Quietly(() => LogDeclaredDead(_logger, Reason(context), SiloExitCodes.DeclaredDead));
                Flush();
                _exit(SiloExitCodes.DeclaredDead);
                return;
            }

            Quietly(() => LogFatal(_logger, exception, source, context ?? "none"));
            Flush();
        }
        catch (Exception failure)
        {
            exception = new AggregateException(exception ?? new InvalidOperationException("The silo was declared dead."), failure);
        }

        _failFast($"Fatal error in {source} ({context ?? "no context"}): the silo stops.", exception);
    }

    /// <summary>Whether Orleans (or our probes) stopped the silo because the cluster counts it dead, not because of a bug.</summary>
    internal static bool IsDeath(string? context) => context is null || !context.Contains(OrleansBug, StringComparison.Ordinal);

    /// <summary>Orleans' reason without its prefix or the membership table it appends (every silo's address and status, on one line).</summary>
    internal static string Reason(string? context)
    {
        if (string.IsNullOrWhiteSpace(context))
        {
            return "no reason given";
        }

        var start = context.IndexOf(OrleansDeathPrefix, StringComparison.Ordinal);
        var reason = start < 0 ? context : context[(start + OrleansDeathPrefix.Length)..];
        var dump = reason.IndexOf(OrleansMembershipDump, StringComparison.Ordinal);
        return (dump < 0 ? reason : reason[..dump]).Trim();
    }

    /// <summary>Writes out what the console holds (disposing its provider: the writer thread empties its queue, at most 1.5 s) on this thread, which a pool just resumed from a pause may not run for a while.</summary>
    private void Flush() => Quietly(() =>
    {
        foreach (var provider in _loggers())
        {
            Quietly(provider.Dispose);
        }
    });

    /// <summary>Logging must not keep a dead silo running: a logger's failure is ignored.</summary>
    private static void Quietly(Action log)
    {
        try
        {
            log();
        }
        catch (Exception)
        {
            // Nothing to tell it to: the loggers are what failed.
        }
    }

    /// <summary>Ends the process with <paramref name="code"/> now: no shutdown handlers (the host's would start a graceful stop), no finalizers.</summary>
    private static void ExitNow(int code)
    {
        if (OperatingSystem.IsWindows())
        {
            Process.GetCurrentProcess().Kill();
            return;
        }

        SysExit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void SysExit(int status);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Critical, Message = "This silo was declared dead by the cluster ({Reason}); it exits now with code {Code} and comes back, if restarted, as a new member")]
    private static partial void LogDeclaredDead(ILogger logger, string reason, int code);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Warning, Message = "{Source} ended while the host stops ({Type}: {Message}); the stop goes on")]
    private static partial void LogTeardown(ILogger logger, string source, string type, string message);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Critical, Message = "Fatal error in {Source} (context: {Context}): the silo stops")]
    private static partial void LogFatal(ILogger logger, Exception exception, string source, string context);
}

/// <summary>Exit codes of a silo process, for whatever restarts it (the local cluster's launcher, systemd, Kubernetes).</summary>
internal static class SiloExitCodes
{
    /// <summary>The cluster declared this silo dead and it stopped at once; started again, it joins as a new member (sysexits' EX_TEMPFAIL).</summary>
    public const int DeclaredDead = 75;

    /// <summary>What a silo process's exit code says, for the launcher's line, which always names the code (on Linux, 128 + N is the signal N that ended it).</summary>
    public static string Describe(int code) => code switch
    {
        0 => "exited with code 0",
        DeclaredDead => $"stopped itself (code {code}): the cluster declared it dead, paused or cut off past its suspicion",
        134 => $"aborted (code {code}) after a fatal error; its log above says which",
        137 => $"was killed (SIGKILL, code {code})",
        > 128 and < 160 => $"was ended by signal {code - 128} (code {code})",
        _ => $"exited with code {code}",
    };
}
