using Coordination.TestKit.Faults;
using Xunit.Abstractions;

// Each test starts a cluster of processes and four client processes: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Coordination.Fault.Tests;

/// <summary>
/// The CI set of the fault suite: every fault type on fixed seeds, with zero violations, and the broken
/// controls caught. Every run also has a semaphore and a reader-writer workload beside the locks, in the same
/// client processes and under the same faults (see <see cref="FaultRunOptions.SemaphorePermits"/>); the controls
/// that show their checkers can fail are unit tests (SharedLockCheckerTests). A failing run prints its report (seed, faults, violations) and leaves its history JSON for
/// replay with <c>dotnet run -c Release --project tests/Coordination.Benchmarks -- faults --seed N ...</c>.
/// </summary>
public sealed class FaultSuiteTests(ITestOutputHelper output)
{
    /// <summary>Also with an election beside the locks: its leaders fence their writes with their terms. Restarts are graceful leaves and rejoins (membership changes).</summary>
    [Fact]
    public Task Silo_crashes_pauses_and_restarts_keep_every_invariant() =>
        ExpectValidAsync(101, TimeSpan.FromSeconds(55), elections: 1, FaultKind.KillSilo, FaultKind.PauseSilo, FaultKind.RestartSilo);

    [Fact]
    public Task Partitions_and_clock_skew_keep_every_invariant() =>
        ExpectValidAsync(202, TimeSpan.FromSeconds(55), elections: 0, FaultKind.PartitionOne, FaultKind.PartitionBridge, FaultKind.PartitionHalves, FaultKind.ClockSkew);

    [Fact]
    public Task Client_pauses_and_a_client_alone_with_a_minority_keep_every_invariant() =>
        ExpectValidAsync(303, TimeSpan.FromSeconds(40), elections: 0, FaultKind.PauseClient, FaultKind.ClientMinority);

    [Fact]
    public async Task A_lease_only_lock_without_a_quorum_is_caught()
    {
        var report = await RunAsync(404, TimeSpan.FromSeconds(30), "LeaseOnly", FaultKind.KillSilo);
        Assert.False(report.Valid, "the checkers passed a lock whose state lives in one activation's memory:\n" + report.ToMarkdown());
    }

    [Fact]
    public async Task Fencing_tokens_from_an_in_memory_counter_are_caught()
    {
        var report = await RunAsync(505, TimeSpan.FromSeconds(30), "TokensFromMemory", FaultKind.KillSilo);
        Assert.False(report.Valid, "the checkers passed tokens that restart after a failover:\n" + report.ToMarkdown());
        Assert.Contains(report.Checks, c => c.Checker == MutexChecker.Name && !c.Valid);
    }

    private async Task ExpectValidAsync(int seed, TimeSpan duration, int elections, params FaultKind[] faults)
    {
        var report = await RunAsync(seed, duration, null, faults, elections);
        Assert.True(report.Valid, report.ToMarkdown());
        foreach (var kind in faults)
        {
            Assert.True(report.FaultsInjected.GetValueOrDefault(kind) > 0, $"{kind} was never injected:\n{report.ToMarkdown()}");
        }

        Assert.True(report.Grants > 20, $"too little work to mean anything ({report.Grants} grants):\n{report.ToMarkdown()}");
        Assert.True(report.SharedGrants > 10, $"too little semaphore and reader-writer work to mean anything ({report.SharedGrants} grants):\n{report.ToMarkdown()}");
    }

    private Task<FaultReport> RunAsync(int seed, TimeSpan duration, string? unsafeControl, params FaultKind[] faults) =>
        RunAsync(seed, duration, unsafeControl, faults, elections: 0);

    private async Task<FaultReport> RunAsync(int seed, TimeSpan duration, string? unsafeControl, FaultKind[] faults, int elections)
    {
        var report = await FaultRun.RunAsync(new FaultRunOptions
        {
            Seed = seed,
            Duration = duration,
            Faults = faults,
            Unsafe = unsafeControl,
            Elections = elections,
            Log = output.WriteLine,
        });
        output.WriteLine(report.ToMarkdown());
        return report;
    }
}
