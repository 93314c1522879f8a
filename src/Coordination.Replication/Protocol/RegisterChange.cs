namespace Coordination.Replication.Protocol;

/// <summary>What a change may know besides the value: the configuration the write will commit under.</summary>
/// <param name="TokenEpoch">The cluster epoch the partition's state began in (fencing tokens start above it).</param>
/// <param name="ConfigurationEpoch">The partition's configuration epoch.</param>
public readonly record struct RegisterContext(long TokenEpoch, long ConfigurationEpoch);

/// <summary>A change to a register value: the new value and what to tell the caller. Must be a pure function of its inputs.</summary>
public delegate (TValue? Next, TResult Result) RegisterChange<TValue, TResult>(TValue? current, RegisterContext context) where TValue : class;
