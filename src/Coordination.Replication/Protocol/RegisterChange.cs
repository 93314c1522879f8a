namespace Coordination.Replication.Protocol;

/// <summary>What a change may know besides the value: the configuration the write will commit under.</summary>
/// <param name="TokenEpoch">The cluster epoch the partition's state began in (fencing tokens start above it).</param>
/// <param name="ConfigurationEpoch">The partition's configuration epoch.</param>
/// <param name="TokenFloor">
/// At least the last token of every register of the partition ever deleted: a register that does not exist
/// (a null value) must start its tokens above it, so a name used again never issues a lower token.
/// </param>
/// <param name="Generation">
/// Which promise the write will commit under: it changes whenever the register had to prepare again (someone
/// else may have written since). A change that depends on a call made after a read of the register (a session
/// attach) refuses to commit under another generation than the one it saw (<see cref="IRegister{TValue}.PeekAsync"/>).
/// </param>
internal readonly record struct RegisterContext(long TokenEpoch, long ConfigurationEpoch, long TokenFloor = 0, long Generation = 0);

/// <summary>What a register would write under now: its cached value and promise generation (a hint, not a linearizable read).</summary>
internal readonly record struct RegisterView<TValue>(TValue? Value, long Generation) where TValue : class;

/// <summary>A change to a register value: the new value and what to tell the caller. Must be a pure function of its inputs.</summary>
internal delegate (TValue? Next, TResult Result) RegisterChange<TValue, TResult>(TValue? current, RegisterContext context) where TValue : class;
