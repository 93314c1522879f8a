using Coordination.Replication.Protocol;
using Microsoft.Extensions.Options;

namespace Coordination.Replication.Hosting;

/// <summary>How the silo replicates registers. Bound from the configuration section <c>Coordination:Replication</c>.</summary>
public sealed class ReplicationOptions
{
    public const string Section = "Coordination:Replication";

    /// <summary>How many partitions keys are hashed into; fixed when the cluster is first created. Default 64; 1 to 4096.</summary>
    public int PartitionCount { get; set; } = 64;

    /// <summary>Replicas per partition: 3 (survives one lost replica) or 5 (two). Default 3.</summary>
    public int ReplicationFactor { get; set; } = 3;

    /// <summary>How long one prepare or accept round waits for a majority. Default 1 s.</summary>
    public TimeSpan RoundTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one operation may retry before failing with QuorumUnavailableException. Default 5 s; must be at least <see cref="RoundTimeout"/> and below the 30 s call timeout.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most changes of one key folded into one accept. Default 256.</summary>
    public int MaxBatch { get; set; } = 256;

    /// <summary>
    /// How long a round waits for the majority it asked first (this silo's replica and the fewest others a majority
    /// needs) before it asks the other replicas too. Default 5 ms: a replica answers well within it on an idle machine
    /// and within a few under load. Raise it where rounds are often slower (a loaded machine, a slow network), so the
    /// rest are asked only when a replica is paused or gone; 0 asks every replica at once (more messages, no wait on a
    /// slow one). 0 up to, not including, <see cref="RoundTimeout"/>.
    /// </summary>
    public TimeSpan HedgeDelay { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// How long a request that joins the queue of a held lock, election, semaphore or reader-writer lock (its caller
    /// waits anyway) may wait for another change of it to be written with, typically the holder's release, instead of a
    /// replication round of its own. Default 2 ms; 0 to 100 ms; 0 writes each at once.
    /// </summary>
    public TimeSpan WaiterLinger { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Whether replica batches between silos travel on TCP connections of their own (one per pair of silos, frames
    /// of Orleans-serialized requests) instead of Orleans grain-service calls: about a third of a replica round trip
    /// less on loopback. A silo finds another's port by asking it once through Orleans, and uses Orleans' calls until
    /// it knows it, or when the other silo has none (it runs with this off, or an older version). Default true.
    /// </summary>
    public bool DirectTransport { get; set; } = true;

    /// <summary>
    /// The TCP port this silo listens on for other silos' replica batches, on the silo's address (Orleans'
    /// <c>SiloListeningEndpoint</c> address when set, else its advertised address). Default 0: any free port. Set one
    /// when a firewall lies between silos; if the silo cannot listen, replica traffic to it goes through Orleans.
    /// </summary>
    public int DirectPort { get; set; }

    /// <summary>
    /// TLS for the direct replica transport: each connection shows this silo's certificate and takes only another
    /// silo's of the same authority (<see cref="ClusterTls.IsSilo"/>). Not bound from configuration: set by
    /// <c>UseClusterTls</c> on the silo builder (the silo host does, from <c>Coordination:Host:Tls</c>). Default null: in
    /// the clear, as Orleans' own connections are without TLS.
    /// </summary>
    public ClusterTls? Tls { get; set; }

    /// <summary>
    /// How often each silo looks for tombstones of deleted registers that their writers could not drop (a
    /// member answered late); one seen in two passes in a row is dropped everywhere. Default 5 s.
    /// </summary>
    public TimeSpan TombstoneCollectionInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often each silo re-reads the replica configurations. Default 1 s.</summary>
    public TimeSpan MetadataRefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the planning silo checks for partitions to assign or replicas to replace (it also reacts to membership changes at once). Default 1 s.</summary>
    public TimeSpan PlannerInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a stopping silo waits, while still serving, until the other replicas of each of its
    /// partitions hold a caught-up majority without it, so a rolling restart never drops a partition below
    /// its majority. Default 30 s; after that it stops anyway and says which partitions it leaves short.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// BROKEN ON PURPOSE unless None: a deliberately unsafe variant, which exists only so the fault suite can
    /// prove its checkers catch it. Not bound from configuration (it is internal): only the silo host
    /// sets it, from <c>Coordination:Host:Unsafe</c>, and only with its fault injection on. Default None.
    /// Replication reads it in one place: <see cref="RegisterFactory"/> makes lease-only registers for
    /// <see cref="UnsafeControl.LeaseOnly"/>.
    /// </summary>
    internal UnsafeControl Unsafe { get; set; } = UnsafeControl.None;

    internal ProposerOptions ToProposerOptions() => new()
    {
        RoundTimeout = RoundTimeout,
        OperationTimeout = OperationTimeout,
        MaxBatch = MaxBatch,
        HedgeDelay = HedgeDelay > TimeSpan.Zero ? HedgeDelay : null,
        Linger = WaiterLinger,
    };
}

/// <summary>Deliberately unsafe variants for the fault suite's controls (see <see cref="ReplicationOptions.Unsafe"/>).</summary>
internal enum UnsafeControl
{
    /// <summary>The real protocol.</summary>
    None,

    /// <summary>A lock's state lives only in its grain activation: no replica accepts, so a failover forgets every grant.</summary>
    LeaseOnly,

    /// <summary>Clients get fencing tokens from a counter in the lock grain's memory, which restarts at 1 after a failover.</summary>
    TokensFromMemory,
}

/// <summary>Checks <see cref="ReplicationOptions"/> at start, naming the setting, its value and the rule.</summary>
internal sealed class ReplicationOptionsValidator : IValidateOptions<ReplicationOptions>
{
    public ValidateOptionsResult Validate(string? name, ReplicationOptions options)
    {
        var failures = new List<string>();
        var s = ReplicationOptions.Section;
        if (!Quorum.IsSupportedReplicationFactor(options.ReplicationFactor))
        {
            failures.Add($"{s}:ReplicationFactor is {options.ReplicationFactor}: use 3 (survives one lost replica) or 5 (survives two).");
        }

        if (options.PartitionCount is < 1 or > 4096)
        {
            failures.Add($"{s}:PartitionCount is {options.PartitionCount}: it must be between 1 and 4096.");
        }

        if (options.RoundTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{s}:RoundTimeout is {options.RoundTimeout}: it must be positive.");
        }

        if (options.OperationTimeout < options.RoundTimeout || options.OperationTimeout >= TimeSpan.FromSeconds(30))
        {
            failures.Add($"{s}:OperationTimeout is {options.OperationTimeout}: it must be at least RoundTimeout ({options.RoundTimeout}) and below the 30 s grain call timeout.");
        }

        if (options.DrainTimeout < TimeSpan.Zero)
        {
            failures.Add($"{s}:DrainTimeout is {options.DrainTimeout}: it must not be negative.");
        }

        if (options.MaxBatch < 1)
        {
            failures.Add($"{s}:MaxBatch is {options.MaxBatch}: it must be at least 1.");
        }

        if (options.HedgeDelay < TimeSpan.Zero || options.HedgeDelay >= options.RoundTimeout)
        {
            failures.Add($"{s}:HedgeDelay is {options.HedgeDelay}: it must be at least 0 (ask every replica at once) and below RoundTimeout ({options.RoundTimeout}).");
        }

        if (options.WaiterLinger < TimeSpan.Zero || options.WaiterLinger > TimeSpan.FromMilliseconds(100))
        {
            failures.Add($"{s}:WaiterLinger is {options.WaiterLinger}: it must be between 0 and 100 ms.");
        }

        if (options.DirectPort is < 0 or > 65535)
        {
            failures.Add($"{s}:DirectPort is {options.DirectPort}: it must be a TCP port (1 to 65535), or 0 for any free one.");
        }

        if (options.TombstoneCollectionInterval <= TimeSpan.Zero)
        {
            failures.Add($"{s}:TombstoneCollectionInterval is {options.TombstoneCollectionInterval}: it must be positive.");
        }

        if (options.MetadataRefreshInterval <= TimeSpan.Zero || options.PlannerInterval <= TimeSpan.Zero)
        {
            failures.Add($"{s}:MetadataRefreshInterval ({options.MetadataRefreshInterval}) and PlannerInterval ({options.PlannerInterval}) must be positive.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
