using Coordination.Silo.Logging;
using Coordination.Silo.SiloHost;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Coordination.Tests;

/// <summary>How a silo process ends when Orleans or our probes call it fatal: one line and an exit code for a death, the stack trace for a crash.</summary>
public sealed class SiloDeathTests
{
    private const string OrleansContext = "I have been told I am dead, so this silo will stop! Reason: The membership view classifies this silo as Dead (in Refresh). Membership: [Version: 7, 3 silos, SiloAddress=S127.0.0.1:11111:1 SiloName=silo0 Status=Active, SiloAddress=S127.0.0.1:11113:1 SiloName=silo2 Status=Dead]";

    private readonly FakeLogger _logger = new();
    private readonly ShutdownSignal _signal = new();
    private readonly FlushedProvider _console;
    private readonly List<int> _exits = [];
    private readonly List<(string Message, Exception Exception)> _failFasts = [];

    public SiloDeathTests() => _console = new FlushedProvider(() => _logger.Collector.Count);

    [Fact]
    public void A_silo_told_it_is_dead_says_so_in_one_critical_line_flushes_its_log_and_exits_with_its_code()
    {
        var death = Death();
        death.OnFatalException(new object(), OrleansContext, null);

        var line = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Critical, line.Level);
        Assert.Null(line.Exception);
        Assert.Contains("declared dead by the cluster (The membership view classifies this silo as Dead (in Refresh).)", line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SiloAddress", line.Message, StringComparison.Ordinal);
        Assert.Equal([SiloExitCodes.DeclaredDead], _exits);
        Assert.Empty(_failFasts);
        Assert.Equal(1, _console.EntriesWhenFlushed);
        Assert.True(_console.FlushedBeforeExit, "the console's queue is written out before the process ends");
        Assert.True(_signal.Dead, "the console leaves Orleans' complaints out from now on");
    }

    [Fact]
    public void Orleans_finding_a_bug_in_its_membership_is_a_crash_not_a_death()
    {
        var death = Death();
        death.OnFatalException(new object(), "I have been told I am dead, so this silo will stop! Reason: Found a bug! Will stop.", null);

        var line = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Critical, line.Level);
        Assert.Contains("Found a bug", line.Exception?.Message, StringComparison.Ordinal);
        Assert.Single(_failFasts);
        Assert.Empty(_exits);
        Assert.False(_signal.Dead);
    }

    [Fact]
    public void A_logger_that_throws_does_not_keep_a_dead_silo_running()
    {
        var death = new SiloDeath(new ThrowingLogger(), _signal, () => [_console], Exit, (m, e) => _failFasts.Add((m, e)));
        death.OnFatalException(new object(), OrleansContext, null);
        Assert.Equal([SiloExitCodes.DeclaredDead], _exits);

        var crash = new SiloDeath(new ThrowingLogger(), new ShutdownSignal(), () => [_console], Exit, (m, e) => _failFasts.Add((m, e)));
        crash.OnFatalException(new object(), "ProcessMembershipUpdates", new InvalidOperationException());
        Assert.Single(_failFasts);
    }

    [Fact]
    public void An_exit_that_fails_still_ends_the_process_by_failing_fast()
    {
        var death = new SiloDeath(_logger, _signal, () => [_console], _ => throw new EntryPointNotFoundException("_exit"), (m, e) => _failFasts.Add((m, e)));
        death.OnFatalException(new object(), OrleansContext, null);

        var (_, exception) = Assert.Single(_failFasts);
        Assert.Contains(((AggregateException)exception).InnerExceptions, e => e is EntryPointNotFoundException);
    }

    [Fact]
    public void An_unexpected_fatal_error_keeps_its_stack_trace_and_fails_fast()
    {
        var death = Death();
        var error = new InvalidOperationException("the table is corrupt");
        Assert.True(death.IsUnexpected(error));
        death.OnFatalException(new object(), "ProcessMembershipUpdates", error);

        var line = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Critical, line.Level);
        Assert.Same(error, line.Exception);
        Assert.Contains("ProcessMembershipUpdates", line.Message, StringComparison.Ordinal);
        var (message, exception) = Assert.Single(_failFasts);
        Assert.Same(error, exception);
        Assert.Contains("ProcessMembershipUpdates", message, StringComparison.Ordinal);
        Assert.Empty(_exits);
        Assert.Equal(1, _console.EntriesWhenFlushed);
    }

    [Fact]
    public void A_runtime_loop_that_outlives_its_services_while_the_host_stops_does_not_turn_the_stop_into_a_crash()
    {
        var death = Death();
        death.OnFatalException(new object(), "ProcessMembershipUpdates", new ObjectDisposedException("IServiceProvider"));
        Assert.Single(_failFasts); // not stopping: a crash as before

        var stopping = new ShutdownSignal();
        stopping.Set();
        _failFasts.Clear();
        var teardown = new SiloDeath(_logger, stopping, () => [_console], Exit, (m, e) => _failFasts.Add((m, e)));
        teardown.OnFatalException(new object(), "ProcessMembershipUpdates", new ObjectDisposedException("IServiceProvider"));
        teardown.OnFatalException(new object(), "ProcessMembershipUpdates", new TaskCanceledException());
        Assert.Empty(_failFasts);
        Assert.Empty(_exits);
        Assert.Equal(LogLevel.Warning, _logger.Collector.LatestRecord.Level);

        teardown.OnFatalException(new object(), "ProcessMembershipUpdates", new InvalidOperationException("a bug"));
        Assert.Single(_failFasts);
    }

    [Fact]
    public void A_second_fatal_call_while_the_first_ends_the_process_adds_nothing()
    {
        var death = Death();
        death.OnFatalException(new object(), OrleansContext, null);
        death.OnFatalException(new object(), "The probe group declared this silo dead and Orleans did not stop it within 00:00:10", null);
        death.OnFatalException(new object(), "ProcessMembershipUpdates", new InvalidOperationException());

        Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal([SiloExitCodes.DeclaredDead], _exits);
        Assert.Empty(_failFasts);
    }

    [Theory]
    [InlineData(OrleansContext, "The membership view classifies this silo as Dead (in Refresh).")]
    [InlineData("The probe group declared this silo (127.0.0.1:11113@1) dead and Orleans did not stop it within 00:00:10", "The probe group declared this silo (127.0.0.1:11113@1) dead and Orleans did not stop it within 00:00:10")]
    [InlineData(null, "no reason given")]
    [InlineData("  ", "no reason given")]
    public void The_reason_is_orleans_own_without_the_membership_table(string? context, string reason) =>
        Assert.Equal(reason, SiloDeath.Reason(context));

    [Theory]
    [InlineData(OrleansContext, true)]
    [InlineData("I have been told I am dead, so this silo will stop! Reason: Detected newer version of myself - I am the older clone so I will stop", true)]
    [InlineData("The probe group declared this silo (127.0.0.1:11113@1) dead and Orleans did not stop it within 00:00:10", true)]
    [InlineData("I have been told I am dead, so this silo will stop! Reason: Found a bug! Will stop.", false)]
    public void A_stop_without_an_exception_is_a_death_unless_orleans_found_a_bug(string context, bool death) =>
        Assert.Equal(death, SiloDeath.IsDeath(context));

    [Theory]
    [InlineData(0, "exited with code 0")]
    [InlineData(75, "stopped itself (code 75): the cluster declared it dead, paused or cut off past its suspicion")]
    [InlineData(134, "aborted (code 134) after a fatal error; its log above says which")]
    [InlineData(137, "was killed (SIGKILL, code 137)")]
    [InlineData(143, "was ended by signal 15 (code 143)")]
    [InlineData(1, "exited with code 1")]
    public void The_launcher_says_what_a_silos_exit_code_means(int code, string said) =>
        Assert.Equal(said, SiloExitCodes.Describe(code));

    private SiloDeath Death() => new(_logger, _signal, () => [_console], Exit, (m, e) => _failFasts.Add((m, e)));

    private void Exit(int code)
    {
        _console.FlushedBeforeExit = _console.EntriesWhenFlushed is not null;
        _exits.Add(code);
    }

    /// <summary>The console's provider: records how many entries were logged when it was flushed (disposed).</summary>
    private sealed class FlushedProvider(Func<int> entries) : ILoggerProvider
    {
        public int? EntriesWhenFlushed { get; private set; }

        public bool FlushedBeforeExit { get; set; }

        public ILogger CreateLogger(string categoryName) => throw new NotSupportedException();

        public void Dispose() => EntriesWhenFlushed = entries();
    }

    private sealed class ThrowingLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            throw new IOException("the console is gone");
    }
}
