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
/// and stops) before the process ends. From the first call on, the console drops Orleans' own entries below critical
/// (see <see cref="ShutdownSignal.Dead"/>): a silo waking from a pause warns of every timer it missed, none of which
/// matters once it is dead.
/// </remarks>
internal sealed partial class SiloDeath : IFatalErrorHandler
{
    private const string OrleansDeathPrefix = "Reason: ";
    private const string OrleansMembershipDump = " Membership: ";
    private static readonly TimeSpan FlushLimit = TimeSpan.FromSeconds(2);

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
    /// Ends the process. Orleans passes no exception exactly when the silo read its own death in the membership table
    /// (our probes' fallback, when Orleans has not stopped a silo they declared dead, does the same).
    /// </summary>
    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        if (Interlocked.Exchange(ref _ending, 1) != 0)
        {
            // Another thread is ending the process at this moment; one line and one exit are enough.
            return;
        }

        _signal.SetDead();
        if (exception is null)
        {
            LogDeclaredDead(_logger, Reason(context), SiloExitCodes.DeclaredDead);
            Flush();
            _exit(SiloExitCodes.DeclaredDead);
            return;
        }

        var source = sender?.GetType().Name ?? "unknown";
        LogFatal(_logger, exception, source, context ?? "none");
        Flush();
        _failFast($"Fatal error in {source} ({context ?? "no context"}): the silo stops.", exception);
    }

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

    private void Flush()
    {
        var flushed = Task.Run(() =>
        {
            foreach (var provider in _loggers())
            {
                provider.Dispose();
            }
        });
        try
        {
            flushed.Wait(FlushLimit);
        }
        catch (AggregateException)
        {
            // A logger that fails to flush must not keep a dead silo running.
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

    [LoggerMessage(EventId = 6002, Level = LogLevel.Critical, Message = "Fatal error in {Source} (context: {Context}): the silo stops")]
    private static partial void LogFatal(ILogger logger, Exception exception, string source, string context);
}

/// <summary>Exit codes of a silo process, for whatever restarts it (the local cluster's launcher, systemd, Kubernetes).</summary>
internal static class SiloExitCodes
{
    /// <summary>The cluster declared this silo dead and it stopped at once; started again, it joins as a new member (sysexits' EX_TEMPFAIL).</summary>
    public const int DeclaredDead = 75;

    /// <summary>What a silo process's exit code says, for the launcher's line (on Linux, 128 + N is the signal N that ended it).</summary>
    public static string Describe(int code) => code switch
    {
        0 => "exited",
        DeclaredDead => $"stopped itself (code {code}): the cluster declared it dead, paused or cut off past its suspicion",
        134 => $"aborted (code {code}) after a fatal error; its log above says which",
        137 => $"was killed (SIGKILL, code {code})",
        > 128 and < 160 => $"was ended by signal {code - 128} (code {code})",
        _ => $"exited with code {code}",
    };
}
